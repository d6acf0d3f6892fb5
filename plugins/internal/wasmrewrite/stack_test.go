package wasmrewrite

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// TestMeterStack: every way out of a function gives its frame back to the
// call stack budget (the budget is the same after a deep call returns), and
// a recursion without end traps with the budget spent, not the fuel.
func TestMeterStack(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, readTestdata(t, "stack.wasm"), MeterOptions{Stack: 1 << 20})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m := instantiate(t, newRuntime(t, e.cfg()), metered)
			st, err := NewStack(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := st.Remaining(); got != 1<<20 {
				t.Fatalf("initial budget %d, want MeterOptions.Stack", got)
			}
			// 500 deep: under the interpreter's own limit of 2000 frames.
			for _, name := range []string{"fall", "ret", "br", "brif", "brtable", "multi"} {
				if got := call(t, m, name, 500); name != "multi" && got[0] != 500 {
					t.Errorf("%s(500) = %d", name, got[0])
				}
				if got := st.Remaining(); got != 1<<20 {
					t.Errorf("after %s(500) the budget is %d, want %d back", name, got, 1<<20)
				}
			}

			st.Set(64 << 10) // a few hundred frames, under the interpreter's limit
			_, err = m.ExportedFunction("down").Call(context.Background(), 0)
			if !st.Exhausted(err) || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("down: %v (budget %d), want the stack budget exhausted", err, st.Remaining())
			}
			if fuel, _ := NewFuel(m); fuel.Exhausted(err) {
				t.Error("a deep recursion was taken for running out of fuel")
			}
			if st.Exhausted(nil) {
				t.Error("Exhausted(nil) = true")
			}
		})
	}
}

// TestMeterStackTailCalls: a loop of tail calls (return_call,
// return_call_indirect) runs in one frame: it does not use up the budget.
func TestMeterStackTailCalls(t *testing.T) {
	t.Parallel()
	metered, err := Meter(tailModule(), MeterOptions{Stack: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if path, err := exec.LookPath("wasm-validate"); err == nil {
		f := filepath.Join(t.TempDir(), "m.wasm")
		if err := os.WriteFile(f, metered, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(path, "--enable-tail-call", f).CombinedOutput(); err != nil {
			t.Fatalf("wasm-validate: %v\n%s", err, out)
		}
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg().WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall))
			m := instantiate(t, r, metered)
			st, _ := NewStack(m)
			for _, name := range []string{"tail", "tail_ind"} {
				if got := call(t, m, name, 100_000); got[0] != 100_000 {
					t.Errorf("%s(100000) = %d", name, got[0])
				}
				if got := st.Remaining(); got != 4<<10 {
					t.Errorf("after %s the budget is %d, want %d back", name, got, 4<<10)
				}
			}
		})
	}
}

// TestMeterRefusesForgedStack: an invalid module writing the global that
// becomes the stack budget once metered is refused.
func TestMeterRefusesForgedStack(t *testing.T) {
	_, err := Meter(readTestdata(t, "forged_stack.wasm"), MeterOptions{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "global[1]") {
		t.Fatalf("Meter(forged_stack) = %v, want ErrMalformed naming global[1]", err)
	}
}

// TestFrameEstimate measures wazero's frames for the shapes of function that
// make them largest per byte of code (values of 8 and 16 bytes kept across a
// recursive call, locals, arguments of another call), by recursing until
// wazero's own stack limit, and checks that frameUnits is not below them.
// wazero stops growing a stack past 50 MB, after doubling it, so at the
// overflow the stack is 50 to 100 MB: the frame is at most 100 MB / depth.
func TestFrameEstimate(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("each case grows a 100 MB stack: slow in -short mode and under -race")
	}
	ctx := context.Background()
	for _, tc := range []struct {
		pattern string
		n       int
	}{{"plain", 0}, {"locals", 256}, {"i64", 256}, {"v128args", 256}, {"v128args", 2048}} {
		wasm, locals, codeLen := frameModule(tc.pattern, tc.n)
		r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
		m, err := r.Instantiate(ctx, wasm)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		_, err = m.ExportedFunction("run").Call(ctx)
		depth := uint32(m.ExportedGlobal("d").Get())
		r.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), "stack overflow") {
			t.Fatalf("%s: %v, want wazero's stack overflow", tc.pattern, err)
		}
		most := 100_000_000 / float64(depth)
		est := float64(frameUnits(1, locals, codeLen) * StackUnit)
		t.Logf("%s n=%d: %d bytes of code, frame %.0f to %.0f bytes, estimate %.0f", tc.pattern, tc.n, codeLen, most/2, most, est)
		if est < most {
			t.Errorf("%s n=%d: estimate %.0f bytes < frame of up to %.0f", tc.pattern, tc.n, est, most)
		}
	}
}

// frameModule assembles a module whose export "run" calls $f (param i64)
// (result i64), which counts its depth in the exported global "d" and
// recurses forever, keeping n values of the pattern's kind across its call.
// It returns the module, $f's locals and the length of $f's code.
func frameModule(pattern string, n int) (wasm []byte, locals uint64, codeLen int) {
	const (
		i64 = 0x7E
		v   = 0x7B
	)
	types := [][]byte{encodeFuncType([]byte{i64}, []byte{i64}), encodeFuncType(nil, nil)}
	fType := []uint32{0, 1}
	code := []byte{0x23, 0, 0x41, 1, 0x6A, 0x24, 0} // d++
	var localDecl []byte
	recurse := []byte{0x20, 0, 0x42, 1, 0x7C, 0x10, 0} // f(x+1)
	switch pattern {
	case "locals": // n i64 locals set before the call, added after
		locals = uint64(n)
		localDecl = append(wasmbin.AppendU32([]byte{1}, uint32(n)), i64)
		for k := range n {
			code = append(code, 0x20, 0, 0x42)
			code = wasmbin.AppendS64(code, int64(k+3))
			code = append(code, 0x7E, 0x21) // i64.mul, local.set
			code = wasmbin.AppendU32(code, uint32(k+1))
		}
		code = append(code, recurse...)
		for k := range n {
			code = append(code, 0x20)
			code = wasmbin.AppendU32(code, uint32(k+1))
			code = append(code, 0x7C)
		}
	case "i64": // n i64 values on the operand stack across the call
		for k := range n {
			code = append(code, 0x20, 0, 0x42)
			code = wasmbin.AppendS64(code, int64(k+7))
			code = append(code, 0x7C)
		}
		code = append(code, recurse...)
		for range n {
			code = append(code, 0x7C)
		}
	case "v128args": // n v128 values across the call, then passed to $sink
		sink := make([]byte, n)
		for k := range sink {
			sink[k] = v
		}
		types = append(types, encodeFuncType(sink, []byte{v}))
		fType = append(fType, 2)
		locals = 1
		localDecl = []byte{1, 1, i64}
		for range n {
			code = append(code, 0x3F, 0, 0xFD, 0x11) // i32x4.splat (memory.size)
		}
		code = append(code, recurse...)
		code = append(code, 0x21, 1, 0x10, 2, 0xFD, 0x1D, 0, 0x20, 1, 0x7C) // $r; $sink; extract; + $r
	case "plain":
		code = append(code, recurse...)
		code = append(code, 0x42, 1, 0x7C)
	}
	code = append(code, 0x0B)
	if localDecl == nil {
		localDecl = []byte{0}
	}
	bodies := [][]byte{
		wasmbin.AppendBody(nil, localDecl, code),
		wasmbin.AppendBody(nil, []byte{0}, []byte{0x42, 0, 0x10, 0, 0x1A, 0x0B}), // run: drop f(0)
	}
	if len(fType) == 3 {
		bodies = append(bodies, wasmbin.AppendBody(nil, []byte{0}, []byte{0x20, 0, 0x0B})) // sink: the first
	}
	var funcs []byte
	for _, ft := range fType {
		funcs = wasmbin.AppendU32(funcs, ft)
	}
	wasm = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	wasm = appendSection(wasm, wasmbin.SecType, len(types), types...)
	wasm = appendSection(wasm, wasmbin.SecFunction, len(fType), funcs)
	wasm = appendSection(wasm, wasmbin.SecMemory, 1, []byte{0x00, 0x01})
	wasm = appendSection(wasm, wasmbin.SecGlobal, 1, []byte{0x7F, 0x01, 0x41, 0x00, 0x0B})
	wasm = appendSection(wasm, wasmbin.SecExport, 2, exportEntry("d", wasmbin.ExternGlobal, 0), exportEntry("run", wasmbin.ExternFunc, 1))
	wasm = appendSection(wasm, wasmbin.SecCode, len(bodies), bodies...)
	return wasm, locals, len(code)
}

// tailModule assembles a module exporting "tail" and "tail_ind", which count
// n down to 0 with a loop of return_call and of return_call_indirect.
func tailModule() []byte {
	const i32 = 0x7F
	types := [][]byte{encodeFuncType([]byte{i32, i32}, []byte{i32}), encodeFuncType([]byte{i32}, []byte{i32})}
	// if n == 0 { return acc }; n-1, acc+1
	loop := []byte{0x20, 0, 0x45, 0x04, 0x40, 0x20, 1, 0x0F, 0x0B, 0x20, 0, 0x41, 1, 0x6B, 0x20, 1, 0x41, 1, 0x6A}
	bodies := [][]byte{
		wasmbin.AppendBody(nil, []byte{0}, []byte{0x20, 0, 0x41, 0, 0x10, 1, 0x0B}),                      // tail: rec(n, 0)
		wasmbin.AppendBody(nil, []byte{0}, append(append([]byte{}, loop...), 0x12, 1, 0x0B)),             // return_call rec
		wasmbin.AppendBody(nil, []byte{0}, []byte{0x20, 0, 0x41, 0, 0x10, 3, 0x0B}),                      // tail_ind: rec_ind(n, 0)
		wasmbin.AppendBody(nil, []byte{0}, append(append([]byte{}, loop...), 0x41, 0, 0x13, 0, 0, 0x0B)), // return_call_indirect table[0]
	}
	wasm := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	wasm = appendSection(wasm, wasmbin.SecType, len(types), types...)
	wasm = appendSection(wasm, wasmbin.SecFunction, 4, []byte{1, 0, 1, 0})
	wasm = appendSection(wasm, wasmbin.SecTable, 1, []byte{0x70, 0x00, 0x01})
	wasm = appendSection(wasm, wasmbin.SecExport, 2, exportEntry("tail", wasmbin.ExternFunc, 0), exportEntry("tail_ind", wasmbin.ExternFunc, 2))
	wasm = appendSection(wasm, wasmbin.SecElement, 1, []byte{0x00, 0x41, 0x00, 0x0B, 0x01, 0x03})
	return appendSection(wasm, wasmbin.SecCode, len(bodies), bodies...)
}

func encodeFuncType(params, results []byte) []byte {
	out := wasmbin.AppendU32([]byte{0x60}, uint32(len(params)))
	out = append(out, params...)
	out = wasmbin.AppendU32(out, uint32(len(results)))
	return append(out, results...)
}

func exportEntry(name string, kind byte, index uint32) []byte {
	out := wasmbin.AppendU32(nil, uint32(len(name)))
	out = append(out, name...)
	out = append(out, kind)
	return wasmbin.AppendU32(out, index)
}

func appendSection(out []byte, id byte, n int, entries ...[]byte) []byte {
	payload := wasmbin.AppendU32(nil, uint32(n))
	for _, e := range entries {
		payload = append(payload, e...)
	}
	out = append(out, id)
	out = wasmbin.AppendU32(out, uint32(len(payload)))
	return append(out, payload...)
}
