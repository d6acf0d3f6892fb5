package wasmrewrite

import "errors"

// Prepared is the result of Prepare: the bytes to compile and what was done
// to them.
type Prepared struct {
	// Wasm is the module to compile and cache under the upload's hash.
	Wasm []byte
	// Merged reports whether MergeDataSegments applied; a module with at
	// most one segment counts, there being nothing to merge.
	Merged bool
	// Metered reports whether the module carries fuel. When false, the
	// runtime must stop runaway calls another way (WithCloseOnContextDone)
	// and should say so; NotMetered says why.
	Metered    bool
	NotMetered error
}

// Prepare applies the upload-time rewrites in order: MergeDataSegments, kept
// only when it succeeds, then Meter. A module the rewriter does not support is
// not an error: it comes back unmetered, with the reason in NotMetered.
//
//	p, err := wasmrewrite.Prepare(upload, wasmrewrite.MeterOptions{})
//	if err != nil { /* refuse the upload */ }
//	cpuLimit := "instructions"
//	if !p.Metered { cpuLimit = "close-on-context-done: " + p.NotMetered.Error() }
//
// # Errors
//
// Only ErrMalformed: wasm is not a well-formed module.
func Prepare(wasm []byte, opt MeterOptions) (Prepared, error) {
	p := Prepared{Wasm: wasm}
	merged, err := MergeDataSegments(wasm)
	switch {
	case err == nil:
		p.Wasm, p.Merged = merged, true
	case !errors.Is(err, ErrUnsupported):
		return Prepared{}, err
	}
	metered, err := Meter(p.Wasm, opt)
	switch {
	case err == nil:
		p.Wasm, p.Metered = metered, true
	case errors.Is(err, ErrUnsupported):
		p.NotMetered = err
	default:
		return Prepared{}, err
	}
	return p, nil
}
