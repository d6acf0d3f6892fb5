package wasmrewrite

import (
	"context"
	"slices"
	"testing"
)

// TestMeterAssemblyScript meters a module produced by another compiler
// (AssemblyScript: a start function, a DataCount section, bulk memory) and
// requires the same results on both engines, then stops its infinite loop.
func TestMeterAssemblyScript(t *testing.T) {
	t.Parallel()
	orig := readTestdata(t, "assemblyscript/guest.wasm")
	merged, err := MergeDataSegments(orig)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, merged)
	if got, was := len(dataSegments(t, merged)), len(dataSegments(t, orig)); got >= was {
		t.Errorf("merged %d segments into %d", was, got)
	}
	metered := mustMeter(t, orig, MeterOptions{})
	both := mustMeter(t, merged, MeterOptions{})
	calls := []struct {
		name string
		args []uint64
	}{
		{"fib", []uint64{20}},
		{"primes", []uint64{10_000}},
		{"words", []uint64{500}},
		{"classify", []uint64{0}},
		{"classify", []uint64{5}},
		{"classify", []uint64{7}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			om := instantiate(t, r, orig)
			var mods []meteredGo
			for _, wasm := range [][]byte{metered, both} {
				m := instantiate(t, r, wasm) // the start function runs on StartFuel
				fuel, err := NewFuel(m)
				if err != nil {
					t.Fatal(err)
				}
				mods = append(mods, meteredGo{m: m, fuel: fuel})
			}
			for _, c := range calls {
				want := call(t, om, c.name, c.args...)
				var used []uint64
				for _, g := range mods {
					g.fuel.Set(1 << 40)
					if got := call(t, g.m, c.name, c.args...); !slices.Equal(got, want) {
						t.Errorf("%s%v = %v metered, %v original", c.name, c.args, got, want)
					}
					used = append(used, g.fuel.Used(1<<40))
				}
				// Merging segments does not change the code, so not the count.
				if used[0] != used[1] || used[0] == 0 {
					t.Errorf("%s%v used %v", c.name, c.args, used)
				}
			}
			g := mods[0]
			g.fuel.Set(1_000_000)
			_, err := g.m.ExportedFunction("spin").Call(context.Background())
			if !g.fuel.Exhausted(err) {
				t.Errorf("spin: got %v, want out of fuel", err)
			}
		})
	}
}
