package plugins

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/imhook/imhook/plugins/internal/preinit"
	"github.com/imhook/imhook/plugins/internal/wasmcheck"
	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
)

// Modules are checked, then rewritten, before they are compiled:
//
//   - wasmcheck refuses a module whose counts or shape would make wazero's
//     decoder allocate without bound or its compiler take seconds per
//     function (docs/sandbox.md, "Limits and errors"). It runs on every
//     load, the metered form cached on disk notwithstanding, so that a
//     module stored before a limit existed is refused like an upload.
//
// and rewritten (docs/metering.md):
//
//   - Go emits tens of thousands of data segments, which wazero applies one by
//     one at every instantiation; merging them halves the start of each
//     instance.
//   - Metering injects the instruction budget, the CPU limit that needs
//     neither WithCloseOnContextDone nor a goroutine per call.
//   - preinit.Rewrite exports the metered module's mutable globals, so that
//     instances can start from the state the first one's _initialize left
//     (preinit.go).
//
// The rewrites are deterministic, so the compilation cache, keyed by the
// bytes compiled, still hits across restarts. Identity (Plugin.Hash,
// ModuleInfo) stays that of the uploaded bytes.

// prepared is the result of rewriting one upload, shared by the tenants that
// load the same bytes at the same time, and kept a while after (maxIdlePrepared,
// and on disk): a plugin holds it only until its module is compiled.
type prepared struct {
	ready chan struct{} // closed when the fields below are set
	refs  int

	// refused is why wasmcheck refused the module; nothing else is set then.
	refused error

	// metered is the merged and metered module, or nil when the rewriter
	// cannot meter it (notMetered says why; plain is then the module to run).
	metered    []byte
	notMetered error
	// plain is the merged module without fuel, computed on first use: the
	// deadline fallback and the "none" mode run it.
	plainOnce sync.Once
	plain     []byte
	upload    []byte
}

// maxIdlePrepared is how many prepared modules nobody is compiling are kept in
// memory, so that an upload's Inspect followed by its Load, or another
// tenant's load of the same bytes, does not rewrite the module again (50-140
// ms for a Go guest) when there is no disk cache.
const maxIdlePrepared = 4

// prepare returns the rewritten forms of wasm, computing them once per hash
// and taking a reference that release must drop.
func (e *Engine) prepare(hash string, wasm []byte) *prepared {
	e.mu.Lock()
	pm := e.prepared[hash]
	owner := pm == nil
	if owner {
		pm = &prepared{ready: make(chan struct{}), upload: wasm}
		e.prepared[hash] = pm
	}
	if pm.refs == 0 {
		e.dropIdle(hash)
	}
	pm.refs++
	e.mu.Unlock()
	if !owner {
		<-pm.ready
		return pm
	}
	if err := wasmcheck.Check(wasm, wasmcheck.Default); err != nil {
		pm.refused, pm.upload = err, nil
		close(pm.ready)
		return pm
	}
	if b := e.readPrepared(hash); b != nil {
		pm.metered = b
		close(pm.ready)
		return pm
	}
	p, err := wasmrewrite.Prepare(wasm, wasmrewrite.MeterOptions{})
	switch {
	case err != nil:
		// Malformed: run it as uploaded, and the compiler says what is wrong.
		pm.notMetered = err
		pm.plain = wasm
		pm.plainOnce.Do(func() {})
	case p.Metered:
		pm.metered = withPreinit(p.Wasm)
		e.writePrepared(hash, pm.metered)
	default:
		pm.notMetered = p.NotMetered
		pm.plain = p.Wasm
		pm.plainOnce.Do(func() {})
	}
	close(pm.ready)
	return pm
}

// withPreinit returns the metered module with its mutable globals exported
// for pre-initialised instances, or as it is when that is not supported (its
// instances then all run _initialize).
func withPreinit(metered []byte) []byte {
	if b, err := preinit.Rewrite(metered); err == nil {
		return b
	}
	return metered
}

// rewriteVersion names the output of the rewriter in the disk cache. Bump it
// with any change to what wasmrewrite.Prepare produces, so that a restart does
// not run modules metered by the old code: TestPreparedPin fails until then.
const rewriteVersion = "5"

// preparedPath is where the metered form of an upload is kept on disk, in the
// engine's private cache directory (which is trusted like the compilation
// cache: only imhook can write there).
func (e *Engine) preparedPath(hash string) string {
	return filepath.Join(e.cacheDir, "imhook-metered-v"+rewriteVersion, hash+".wasm")
}

// readPrepared returns the metered form of an upload kept by an earlier
// process, or nil. After a restart this saves the rewrite (50-140 ms for a Go
// guest, about as long as loading its machine code from the cache).
func (e *Engine) readPrepared(hash string) []byte {
	if e.cacheDir == "" {
		return nil
	}
	b, err := os.ReadFile(e.preparedPath(hash))
	if err != nil || len(b) < 8 {
		return nil
	}
	return b
}

// writePrepared keeps the metered form of an upload on disk, best effort
// (written to a temporary file and renamed, so a reader never sees a part).
func (e *Engine) writePrepared(hash string, b []byte) {
	if e.cacheDir == "" {
		return
	}
	path := e.preparedPath(hash)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		e.logger.Warn("cannot keep the metered module", "hash", hash, "err", err)
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), hash+".*.tmp")
	if err != nil {
		e.logger.Warn("cannot keep the metered module", "hash", hash, "err", err)
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		e.logger.Warn("cannot keep the metered module", "hash", hash, "err", err)
	}
}

// plainWasm returns the merged module without fuel.
func (pm *prepared) plainWasm() []byte {
	pm.plainOnce.Do(func() {
		merged, err := wasmrewrite.MergeDataSegments(pm.upload)
		if err != nil {
			merged = pm.upload // unsupported or malformed: compile reports the latter
		}
		pm.plain = merged
	})
	return pm.plain
}

// unprepare drops a reference taken by prepare. A module nobody is compiling
// stays among the last maxIdlePrepared.
func (e *Engine) unprepare(hash string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	pm := e.prepared[hash]
	if pm == nil {
		return
	}
	if pm.refs--; pm.refs > 0 {
		return
	}
	e.idlePrepared = append(e.idlePrepared, hash)
	if len(e.idlePrepared) > maxIdlePrepared {
		delete(e.prepared, e.idlePrepared[0])
		e.idlePrepared = e.idlePrepared[1:]
	}
}

// dropIdle removes hash from the idle list; e.mu is held.
func (e *Engine) dropIdle(hash string) {
	for k, h := range e.idlePrepared {
		if h == hash {
			e.idlePrepared = append(e.idlePrepared[:k], e.idlePrepared[k+1:]...)
			return
		}
	}
}
