package wasmrewrite

import (
	"context"
	"slices"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/sdk/abi"
)

// goCalls are the calls made on the Go guest: heavy loops, recursion, maps,
// sorting and encoding/json.
var goCalls = []struct {
	name string
	args []uint64
}{
	{"fib", []uint64{22}},
	{"primes", []uint64{100_000}},
	{"sorted", []uint64{5000}},
	{"words", []uint64{3000}},
	{"json_round", []uint64{50}},
}

// meteredGo is an instance of the metered Go guest and its fuel.
type meteredGo struct {
	m    api.Module
	fuel Fuel
}

// startMeteredGo instantiates a metered Go guest and runs its _initialize
// under a budget, as the runtime should, returning the instructions used.
func startMeteredGo(tb testing.TB, r wazero.Runtime, wasm []byte) (meteredGo, uint64) {
	tb.Helper()
	m := instantiate(tb, r, wasm) // no start functions: the host runs _initialize
	fuel, err := NewFuel(m)
	if err != nil {
		tb.Fatal(err)
	}
	fuel.Set(DefaultStartFuel)
	if _, err := m.ExportedFunction("_initialize").Call(context.Background()); err != nil {
		tb.Fatalf("_initialize: %v", err)
	}
	return meteredGo{m: m, fuel: fuel}, fuel.Used(DefaultStartFuel)
}

// TestMeterGoGuest runs a real Go module metered and unmetered and requires
// the same results, and the same count for the same call on two instances.
func TestMeterGoGuest(t *testing.T) {
	t.Parallel()
	orig := goGuest(t)
	metered := mustMeter(t, orig, MeterOptions{})
	// The interpreter is far slower on this guest; the WAT corpus covers it.
	r := newRuntime(t, engines[1].cfg())
	om := instantiate(t, r, orig, "_initialize")
	a, initA := startMeteredGo(t, r, metered)
	b, initB := startMeteredGo(t, r, metered)
	t.Logf("_initialize used %d instructions", initA)
	if initA != initB || initA == 0 {
		t.Errorf("_initialize used %d then %d instructions", initA, initB)
	}
	const budget = 1 << 40
	for _, c := range goCalls {
		want := call(t, om, c.name, c.args...)
		var used [2]uint64
		for i, g := range []meteredGo{a, b} {
			g.fuel.Set(budget)
			if got := call(t, g.m, c.name, c.args...); !slices.Equal(got, want) {
				t.Errorf("%s%v = %v metered, %v original", c.name, c.args, got, want)
			}
			used[i] = g.fuel.Used(budget)
		}
		t.Logf("%s%v used %d instructions", c.name, c.args, used[0])
		if used[0] != used[1] || used[0] == 0 {
			t.Errorf("%s%v used %d then %d instructions", c.name, c.args, used[0], used[1])
		}
	}
}

// TestMeterGoGuestRunaways stops a Go guest's infinite loop and unbounded
// recursion (which grows the goroutine stack with memory.copy) at the budget.
func TestMeterGoGuestRunaways(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, goGuest(t), MeterOptions{})
	r := newRuntime(t, engines[1].cfg())
	for _, tc := range []struct {
		name string
		args []uint64
	}{{"spin", nil}, {"deep", []uint64{0}}, {abi.FuncInitialize, nil}} {
		t.Run(tc.name, func(t *testing.T) {
			const budget = 5_000_000
			if tc.name == abi.FuncInitialize {
				// A Go init that never returns, run by the host under a budget.
				ctx := context.Background()
				c, err := r.CompileModule(ctx, metered)
				if err != nil {
					t.Fatal(err)
				}
				m, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").
					WithStartFunctions().WithEnv("GOGUEST_SPIN_INIT", "1"))
				if err != nil {
					t.Fatal(err)
				}
				if err := SetFuel(m, budget); err != nil {
					t.Fatal(err)
				}
				_, err = m.ExportedFunction(abi.FuncInitialize).Call(ctx)
				if !IsOutOfFuel(m, err) {
					t.Fatalf("got %v, want out of fuel", err)
				}
				return
			}
			g, _ := startMeteredGo(t, r, metered)
			g.fuel.Set(budget)
			_, err := g.m.ExportedFunction(tc.name).Call(context.Background(), tc.args...)
			if !g.fuel.Exhausted(err) {
				t.Fatalf("got %v with %d remaining, want out of fuel", err, g.fuel.Remaining())
			}
		})
	}
}
