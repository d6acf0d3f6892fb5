package wasmrewrite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/internal/wasmcheck"
	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// fuzzBudget bounds the guest code a FuzzMeter input may run, in its start
// function and in each call: enough for the corpus's loops, small enough to
// keep an input to milliseconds on the interpreter.
const fuzzBudget = 200_000

// FuzzMeter meters arbitrary bytes. Meter must not panic, and whenever wazero
// accepts the input, it must accept the metered and merged outputs too (or
// Meter must refuse the input with an error). When the input imports
// nothing, the original and the metered module must also behave the same:
// each exported function is called with zero arguments on both, the metered
// one under a budget handed out in small slices (so the refuel import is
// exercised), and while the metered calls stay within the budget their
// results, and whether and how they trap, must be equal.
//
// Inputs the sandbox's pre-decoder check (wasmcheck) refuses never reach
// wazero there, and do not here: wazero's decoder allocates from unchecked
// counts, and a fuzzed one kills the process.
func FuzzMeter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ctx := context.Background()
	// A small memory cap: memory.grow costs a fixed 1001, so a budget does
	// not bound how much memory a call can ask for.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(16))
	defer r.Close(ctx)
	instantiateMeter(f, r)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if wasmcheck.Check(wasm, wasmcheck.Default) != nil {
			return
		}
		out, err := Meter(wasm, MeterOptions{StartFuel: fuzzBudget})
		if err != nil {
			return
		}
		compile := func(b []byte) (cm wazero.CompiledModule, err error) {
			// wazero v1.12 panics validating some invalid modules (a call of
			// a function whose type index is out of range): an error here.
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("wazero panicked: %v", p)
				}
			}()
			return r.CompileModule(ctx, b)
		}
		orig, err := compile(wasm)
		if err != nil {
			return // invalid input: the output need not be valid either
		}
		defer orig.Close(ctx)
		metered, err := compile(out)
		if err != nil {
			t.Fatalf("wazero accepts the input but not the metered output: %v", err)
		}
		defer metered.Close(ctx)
		if merged, err := MergeDataSegments(wasm); err == nil {
			c, err := compile(merged)
			if err != nil {
				t.Fatalf("wazero accepts the input but not the merged output: %v", err)
			}
			c.Close(ctx)
		}
		if hasImports(wasm) || tableElements(wasm) > 1<<16 {
			return // nothing to link it to, or tables that would take gigabytes
		}
		// Slices of 16 to 1039 instructions, varied with the input.
		compareBehaviour(t, r, orig, metered, 16+uint64(len(wasm)%1024))
	})
}

// hasImports reports whether the module imports anything.
func hasImports(wasm []byte) bool {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return true
	}
	imports, err := m.Imports()
	return err != nil || len(imports) > 0
}

// maxLocals returns the most locals a function of the module declares.
func maxLocals(wasm []byte) uint64 {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return 0
	}
	bodies, err := wasmbin.Bodies(m.Section(wasmbin.SecCode))
	if err != nil {
		return 0
	}
	var most uint64
	for _, b := range bodies {
		r := wasmbin.NewReader(b.Locals)
		groups, _ := r.U32()
		var n uint64
		for range groups {
			c, _ := r.U32()
			r.Byte()
			n += uint64(c)
		}
		most = max(most, n)
	}
	return most
}

// tableElements returns how many elements the module's tables start with:
// instantiation allocates them, and a few bytes of input can ask for 2^27
// per table.
func tableElements(wasm []byte) uint64 {
	m, err := wasmbin.Parse(wasm)
	if err != nil || m.Section(wasmbin.SecTable) == nil {
		return 0
	}
	r := wasmbin.NewReader(m.Section(wasmbin.SecTable))
	n, err := r.U32()
	if err != nil {
		return math.MaxUint64
	}
	var sum uint64
	for range n {
		r.Byte() // reference type
		flags, err1 := r.Byte()
		min, err2 := r.U64()
		if err1 != nil || err2 != nil {
			return math.MaxUint64
		}
		if flags&1 != 0 {
			if _, err := r.U64(); err != nil {
				return math.MaxUint64
			}
		}
		sum += min
	}
	return sum
}

// compareBehaviour instantiates both modules and calls every export of the
// original with zero arguments on both, in name order, until the metered
// module runs out of its budget (from then on the instances' states differ).
// The metered calls get their budget in slices of slice instructions.
func compareBehaviour(t *testing.T, r wazero.Runtime, orig, metered wazero.CompiledModule, slice uint64) {
	ctx := context.Background()
	cfg := wazero.NewModuleConfig().WithName("")
	mm, merr := r.InstantiateModule(ctx, metered, cfg) // the start function runs on StartFuel
	if errors.Is(merr, errOutOfFuel) || isStackOverflow(merr) {
		return // a start function that runs away (the original's would too)
	}
	om, oerr := r.InstantiateModule(ctx, orig, cfg)
	if om != nil {
		defer om.Close(ctx)
	}
	if mm != nil {
		defer mm.Close(ctx)
	}
	if (merr == nil) != (oerr == nil) || trapOf(merr) != trapOf(oerr) {
		t.Fatalf("instantiate: metered %v, original %v", merr, oerr)
	}
	if merr != nil {
		return
	}
	fuel, err := NewFuel(mm)
	if err != nil {
		t.Fatal(err)
	}
	b := &Budget{Fuel: fuel}
	stack, err := NewStack(mm)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(orig.ExportedFunctions()))
	for name := range orig.ExportedFunctions() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		def := orig.ExportedFunctions()[name]
		slots := 0
		for _, p := range def.ParamTypes() {
			slots++
			if p == 0x7b { // v128 takes two
				slots++
			}
		}
		args := make([]uint64, slots)
		b.Start(fuzzBudget, slice)
		stackStart := stack.Remaining() // a call that trapped kept its frames
		mres, merr := mm.ExportedFunction(name).Call(withBudget(ctx, &slicedCall{b: b}), args...)
		if b.Exhausted(merr) || isStackOverflow(merr) || stack.Exhausted(merr) {
			// Out of budget (the original may run as long as it likes), or
			// at the stack's limit, which the metered module's helper and
			// refuel frames, and its stack budget, reach a little earlier.
			return
		}
		if got := stack.Remaining(); merr == nil && got != stackStart {
			t.Fatalf("%s: returned with a stack budget of %d, want %d back", name, got, stackStart)
		}
		if merr != nil && errors.Is(merr, errOutOfFuel) {
			t.Fatalf("%s: stopped by refuel with %d of %d used", name, b.Used(), uint64(fuzzBudget))
		}
		ores, oerr := om.ExportedFunction(name).Call(ctx, args...)
		if isStackOverflow(oerr) {
			return
		}
		if (merr == nil) != (oerr == nil) || trapOf(merr) != trapOf(oerr) || !slices.Equal(mres, ores) {
			t.Fatalf("%s: metered %v, %v; original %v, %v", name, mres, merr, ores, oerr)
		}
	}
}

// trapOf returns the first line of a call's error, wazero's trap message
// without the stack trace, and without indices ("start function[1]"):
// function indices differ once renumbered.
func trapOf(err error) string {
	if err == nil {
		return ""
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return indices.ReplaceAllString(first, "[]")
}

var indices = regexp.MustCompile(`\[[0-9]+\]`)

func isStackOverflow(err error) bool {
	return err != nil && strings.Contains(err.Error(), "stack overflow")
}
