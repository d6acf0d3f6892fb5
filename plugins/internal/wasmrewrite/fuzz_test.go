package wasmrewrite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

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
		out, err := Meter(wasm, MeterOptions{StartFuel: fuzzBudget})
		if err != nil {
			return
		}
		if oversized(wasm) {
			return // wazero would take gigabytes or minutes to compile it
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
		if hasImports(wasm) {
			return // nothing to link it to
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

// oversized reports a module that wazero v1.12's decoder would spend
// gigabytes or minutes on, which kills the fuzzing process: it sizes vectors
// by their declared counts before reading them (18 bytes claiming 870
// million tables asked for 31 GB; a function type claiming 2^29 parameters
// ran past the fuzzer's 10 s), allocates a byte per declared local (2^32-1
// locals in one function take 4 GiB), and instantiating allocates tables
// (2^27 elements each). A count larger than the bytes left cannot be honest:
// every entry takes a byte. Meter has already read imports, exports,
// elements, globals and bodies this way; the rest is checked here.
func oversized(wasm []byte) bool {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return false // wazero refuses it before decoding sections
	}
	// count reads a vector's count, and reports it plausible.
	count := func(r *wasmbin.Reader) (uint32, bool) {
		n, err := r.U32()
		return n, err == nil && int(n) <= r.Len()
	}
	for _, s := range m.Sections {
		r := wasmbin.NewReader(s.Data)
		switch s.ID {
		case wasmbin.SecStart, wasmbin.SecDataCount:
			continue
		case wasmbin.SecCustom:
			if name, err := r.Name(); err != nil || string(name) != "name" {
				continue
			}
			for r.Len() > 0 { // function names and local names, as wazero reads them
				id, _ := r.Byte()
				size, _ := r.U32()
				sub, err := r.Next(int(size))
				if err != nil {
					return true
				}
				if id == 1 || id == 2 {
					sr := wasmbin.NewReader(sub)
					n, ok := count(sr)
					for i := uint32(0); ok && i < n; i++ {
						sr.U32()
						if id == 2 {
							var locals uint32
							locals, ok = count(sr)
							for j := uint32(0); ok && j < locals; j++ {
								sr.U32()
								_, err := sr.Name()
								ok = err == nil
							}
						} else {
							_, err := sr.Name()
							ok = err == nil
						}
					}
					if !ok {
						return true
					}
				}
			}
			continue
		}
		n, ok := count(r)
		if !ok {
			return true
		}
		switch s.ID {
		case wasmbin.SecType: // 0x60, parameters, results
			for i := uint32(0); i < n; i++ {
				r.Byte()
				for range 2 {
					k, ok := count(r)
					if _, err := r.Next(int(k)); !ok || err != nil {
						return true
					}
				}
			}
		case wasmbin.SecTable:
			var elements uint64
			for i := uint32(0); i < n; i++ {
				r.Byte() // reference type
				flags, err1 := r.Byte()
				min, err2 := r.U64()
				if err1 != nil || err2 != nil {
					return true
				}
				if flags&1 != 0 {
					r.U64()
				}
				elements += min
			}
			if elements > 1<<16 {
				return true
			}
		case wasmbin.SecData:
			if _, err := wasmbin.DataSegments(s.Data); err != nil {
				return true
			}
		case wasmbin.SecCode:
			bodies, err := wasmbin.Bodies(s.Data)
			if err != nil {
				return true
			}
			for _, b := range bodies {
				br := wasmbin.NewReader(b.Locals)
				groups, _ := br.U32()
				var locals uint64
				for range groups {
					c, _ := br.U32()
					br.Byte()
					locals += uint64(c)
				}
				if locals > 1<<16 {
					return true
				}
			}
		}
	}
	return false
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
		mres, merr := mm.ExportedFunction(name).Call(withBudget(ctx, &slicedCall{b: b}), args...)
		if b.Exhausted(merr) || isStackOverflow(merr) {
			// Out of budget (the original may run as long as it likes), or
			// at the stack's limit, which the metered module's helper and
			// refuel frames reach a little earlier.
			return
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
