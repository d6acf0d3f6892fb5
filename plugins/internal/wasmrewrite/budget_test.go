package wasmrewrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero/api"
)

// budgetCase is one call made once with its whole budget set at once (what
// a metered module did before refuel: stopped at the first check that finds
// the fuel negative) and once with the same budget in slices.
type budgetCase struct {
	name   string
	args   []uint64
	budget uint64
	slice  uint64
	resize func(refuels int) uint64 // nil: every slice of size slice
}

// runBoth makes the call both ways and fails the test unless the results,
// the errors, Used and Exhausted agree. It returns how often the sliced call
// entered refuel.
func runBoth(t *testing.T, whole, sliced api.Module, c budgetCase) int {
	t.Helper()
	ctx := context.Background()
	wf, err := NewFuel(whole)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := NewFuel(sliced)
	if err != nil {
		t.Fatal(err)
	}
	wf.Set(c.budget)
	wres, werr := whole.ExportedFunction(c.name).Call(ctx, c.args...)
	b := &Budget{Fuel: sf}
	b.Start(c.budget, c.slice)
	sc := &slicedCall{b: b, resize: c.resize}
	sres, serr := sliced.ExportedFunction(c.name).Call(withBudget(ctx, sc), c.args...)
	what := fmt.Sprintf("%s%v budget %d slice %d", c.name, c.args, c.budget, c.slice)
	if (werr == nil) != (serr == nil) || !slices.Equal(wres, sres) {
		t.Errorf("%s: sliced %v, %v; whole %v, %v", what, sres, serr, wres, werr)
	}
	if werr != nil && !errors.Is(werr, errOutOfFuel) || serr != nil && !errors.Is(serr, errOutOfFuel) {
		t.Errorf("%s: errors %v, %v: want only refuel's", what, serr, werr)
	}
	if wu, su := wf.Used(c.budget), b.Used(); wu != su {
		t.Errorf("%s: used %d sliced, %d whole", what, su, wu)
	}
	if we, se := wf.Exhausted(werr), b.Exhausted(serr); we != se {
		t.Errorf("%s: exhausted %v sliced, %v whole", what, se, we)
	}
	return sc.refuels
}

// TestBudgetSlices: a budget handed out in slices stops a call at the same
// check, with the same count, as the whole budget set at once, for every
// slice size down to 1 and for budgets around what each call uses; and the
// guest does come back to refuel about once per slice.
func TestBudgetSlices(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, readTestdata(t, "corpus.wasm"), MeterOptions{})
	calls := []struct {
		name string
		args []uint64
	}{
		{"sum", []uint64{1000}}, {"fib", []uint64{15}}, {"dispatch", []uint64{2}},
		{"fold", []uint64{1, 10}}, {"collatz", []uint64{27}}, {"find", []uint64{391}},
		{"bulk", []uint64{3000}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			whole, sliced := instantiate(t, r, metered), instantiate(t, r, metered)
			for _, c := range calls {
				f, _ := NewFuel(whole)
				f.Set(1 << 40)
				call(t, whole, c.name, c.args...)
				u := f.Used(1 << 40)
				for _, budget := range []uint64{u + 5, u, u - 1, u / 2, u / 3, 1, 0} {
					for _, slice := range []uint64{1, 2, 7, 100, 10_000, 0} {
						runBoth(t, whole, sliced, budgetCase{name: c.name, args: c.args, budget: budget, slice: slice})
					}
				}
				// With slices of 100 the guest comes back about u/100 times.
				n := runBoth(t, whole, sliced, budgetCase{name: c.name, args: c.args, budget: 1 << 40, slice: 100})
				if lo := int(u/100) / 2; n < lo || n > int(u/100)+1 {
					t.Errorf("%s%v used %d in %d refuels of slices of 100", c.name, c.args, u, n)
				}
			}
		})
	}
}

// TestBudgetResize: slices resized at every refill, as a runtime sizing
// them by their speed does (shrinking, growing, down to 1 and past the
// rest of the budget), stop a call at the same check with the same count as
// the whole budget set at once.
func TestBudgetResize(t *testing.T) {
	t.Parallel()
	corpus := mustMeter(t, readTestdata(t, "corpus.wasm"), MeterOptions{})
	runaway := mustMeter(t, readTestdata(t, "runaway.wasm"), MeterOptions{})
	sizes := map[string]func(int) uint64{
		"shrinking": func(n int) uint64 { return uint64(max(1000>>n, 1)) },
		"growing":   func(n int) uint64 { return uint64(7 * n) },
		"swinging":  func(n int) uint64 { return []uint64{1, 5000, 3, 1 << 40}[n%4] },
	}
	r := newRuntime(t, engines[1].cfg())
	for _, mod := range []struct {
		wasm  []byte
		calls []budgetCase
	}{
		{corpus, []budgetCase{{name: "fib", args: []uint64{15}}, {name: "sum", args: []uint64{1000}}, {name: "bulk", args: []uint64{3000}}}},
		{runaway, []budgetCase{{name: "spin"}, {name: "fill"}}},
	} {
		whole, sliced := instantiate(t, r, mod.wasm), instantiate(t, r, mod.wasm)
		for _, c := range mod.calls {
			for name, size := range sizes {
				for _, budget := range []uint64{0, 1, 999, 20_000, 100_000} {
					c.budget, c.slice, c.resize = budget, 100, size
					if n := runBoth(t, whole, sliced, c); budget >= 20_000 && n < 2 {
						t.Errorf("%s %s budget %d: %d refuels, want the slices resized more than once", c.name, name, budget, n)
					}
				}
			}
		}
	}
}

// TestBudgetSlicesRunaways: runaway guests are stopped by a sliced budget as
// by a whole one, just over the budget.
func TestBudgetSlicesRunaways(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, readTestdata(t, "runaway.wasm"), MeterOptions{})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			whole, sliced := instantiate(t, r, metered), instantiate(t, r, metered)
			for _, c := range []budgetCase{
				{name: "spin", budget: 1_000_000, slice: 1000},
				{name: "spin", budget: 1_000_000, slice: 65536},
				{name: "down", args: []uint64{0}, budget: 5_000, slice: 64},
				{name: "fill", budget: 1_000_000, slice: 1000}, // each fill overdraws a slice by 4096
			} {
				n := runBoth(t, whole, sliced, c)
				if want := int(c.budget / c.slice); n < want/8 || n > want+1 {
					t.Errorf("%s: %d refuels for a budget of %d in slices of %d", c.name, n, c.budget, c.slice)
				}
			}
		})
	}
}

// TestBudgetStart checks Start's caps and the zero slice.
func TestBudgetStart(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, engines[1].cfg())
	f, err := NewFuel(instantiate(t, r, mustMeter(t, readTestdata(t, "corpus.wasm"), MeterOptions{})))
	if err != nil {
		t.Fatal(err)
	}
	b := &Budget{Fuel: f}
	for _, tc := range []struct{ total, slice, wantTotal, wantFuel uint64 }{
		{1000, 100, 1000, 100},
		{50, 100, 50, 50},
		{1000, 0, 1000, 1000},
		{1 << 63, 0, 1<<63 - 1, 1<<63 - 1},
		{0, 10, 0, 0},
	} {
		b.Start(tc.total, tc.slice)
		if b.Total() != tc.wantTotal || uint64(b.Remaining()) != tc.wantFuel || b.Used() != 0 {
			t.Errorf("Start(%d, %d): total %d, fuel %d, used %d; want %d, %d, 0", tc.total, tc.slice, b.Total(), b.Remaining(), b.Used(), tc.wantTotal, tc.wantFuel)
		}
	}
}
