package preinit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// scatter is plugins/testdata/init_scatter.wasm: one mutable global, an
// _initialize that grows memory as far as allowed and writes every 100th
// byte.
func scatter(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/init_scatter.wasm")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instantiate compiles wasm with a memory cap of pages and instantiates it
// without running anything.
func instantiate(t *testing.T, wasm []byte, pages uint32) (api.Module, func() api.Module) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(pages))
	t.Cleanup(func() { rt.Close(ctx) })
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	next := func() api.Module {
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		return mod
	}
	return next(), next
}

// TestCaptureApply: an instance started from the snapshot of another's
// _initialize has its memory and globals, for a module whose _initialize
// writes scattered bytes over the whole memory: bounded by the memory and by
// MaxSpans.
func TestCaptureApply(t *testing.T) {
	wasm, err := Rewrite(scatter(t))
	if err != nil {
		t.Fatal(err)
	}
	const pages = 64
	first, next := instantiate(t, wasm, pages)
	before := Memory(first)
	first.ExportedGlobal(GlobalExport + "0").(api.MutableGlobal).Set(41) // as if _initialize set it
	if _, err := first.ExportedFunction("_initialize").Call(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap, err := Capture(first, before)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Pages() > pages || snap.Bytes() > pages<<16 || snap.Spans() > MaxSpans {
		t.Errorf("snapshot of %d pages, %d bytes, %d spans; want at most %d pages, %d bytes and %d spans", snap.Pages(), snap.Bytes(), snap.Spans(), pages, pages<<16, MaxSpans)
	}
	clone := next()
	if err := snap.Apply(clone); err != nil {
		t.Fatal(err)
	}
	if err := Same(clone, first); err != nil {
		t.Error(err)
	}
	if got := clone.ExportedGlobal(GlobalExport + "0").Get(); got != 41 {
		t.Errorf("the copy's global is %d, want 41", got)
	}
	clone.ExportedGlobal(GlobalExport + "0").(api.MutableGlobal).Set(42)
	if Same(clone, first) == nil {
		t.Error("Same missed a different global")
	}

	// A memory cap below the snapshot's size is an error, not a partial copy.
	small, _ := instantiate(t, wasm, pages/2)
	if err := snap.Apply(small); err == nil {
		t.Error("Apply into a memory capped below the snapshot succeeded")
	}
	// A module that was not rewritten has no globals to set.
	plain, _ := instantiate(t, scatter(t), pages)
	if err := snap.Apply(plain); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Apply into a module not rewritten: %v, want ErrUnsupported", err)
	}
}

// TestChanged: the ranges are where bytes differ, joined across fewer than
// minGap equal bytes; memory past the old end counts as zeros.
func TestChanged(t *testing.T) {
	before := make([]byte, 1000)
	after := make([]byte, 1200)
	after[10], after[20] = 1, 1 // one range: 9 equal bytes between
	after[500] = 2              // another: far from the first
	after[1100] = 3             // in grown memory
	got := changed(before, after, minGap)
	want := []span{{10, 11}, {500, 1}, {1100, 1}}
	if len(got) != len(want) {
		t.Fatalf("changed = %v, want %v", got, want)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("changed = %v, want %v", got, want)
		}
	}
	if j := join(got, 500); len(j) != 2 || j[0] != (span{10, 491}) {
		t.Errorf("join(500) = %v, want [{10 491} {1100 1}]", j)
	}
}

// TestRewriteRefuses: state a snapshot of memory and globals would miss.
func TestRewriteRefuses(t *testing.T) {
	m, err := wasmbin.Parse(scatter(t))
	if err != nil {
		t.Fatal(err)
	}
	m.SetSection(wasmbin.SecStart, wasmbin.AppendU32(nil, 0))
	if _, err := Rewrite(m.Encode()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a start function: %v, want ErrUnsupported", err)
	}

	m, _ = wasmbin.Parse(scatter(t))
	exports, err := wasmbin.AppendToVec(m.Section(wasmbin.SecExport), 1, appendExport(nil, CountExport, 0))
	if err != nil {
		t.Fatal(err)
	}
	m.SetSection(wasmbin.SecExport, exports)
	if _, err := Rewrite(m.Encode()); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a reserved export name: %v, want ErrUnsupported", err)
	}

	// table.set 0 in a function body: (ref.null func) (i32.const 0) is not
	// needed for the check, which only scans opcodes.
	if err := checkCode(wasmbin.AppendBody(wasmbin.AppendU32(nil, 1), []byte{0}, []byte{opTableSet, 0, wasmbin.OpEnd})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("table.set: %v, want ErrUnsupported", err)
	}
	if err := checkCode(wasmbin.AppendBody(wasmbin.AppendU32(nil, 1), []byte{0}, []byte{wasmbin.OpPrefixFC, byte(wasmbin.FCDataDrop), 0, wasmbin.OpEnd})); !errors.Is(err, ErrUnsupported) {
		t.Errorf("data.drop: %v, want ErrUnsupported", err)
	}
}

// TestRewriteDeterministic: the same bytes in, the same bytes out (the
// result is cached under the upload's hash).
func TestRewriteDeterministic(t *testing.T) {
	a, err := Rewrite(scatter(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Rewrite(scatter(t))
	if !bytes.Equal(a, b) {
		t.Error("Rewrite is not deterministic")
	}
}
