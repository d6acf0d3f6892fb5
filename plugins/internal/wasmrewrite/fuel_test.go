package wasmrewrite

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// TestFuelUnmetered checks the helpers on a module that was not metered.
func TestFuelUnmetered(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, engines[1].cfg())
	m := instantiate(t, r, readTestdata(t, "corpus.wasm"))
	_, err := NewFuel(m)
	if want := "module[] is not metered: it does not export mutable i64 global[imhook_fuel]"; err == nil || err.Error() != want {
		t.Errorf("NewFuel: got %v, want %q", err, want)
	}
	if err := SetFuel(m, 10); err == nil {
		t.Error("SetFuel succeeded on an unmetered module")
	}
	if got := FuelUsed(m, 10); got != 0 {
		t.Errorf("FuelUsed = %d, want 0", got)
	}
	if IsOutOfFuel(m, errors.New("trap")) {
		t.Error("IsOutOfFuel true on an unmetered module")
	}
}

// TestFuelSetAndUsed checks the package-level helpers and the budget cap.
func TestFuelSetAndUsed(t *testing.T) {
	t.Parallel()
	r := newRuntime(t, engines[1].cfg())
	m := instantiate(t, r, mustMeter(t, readTestdata(t, "corpus.wasm"), MeterOptions{StartFuel: 7}))
	f, err := NewFuel(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Remaining(); got != 7 {
		t.Errorf("initial fuel %d, want StartFuel 7", got)
	}
	if err := SetFuel(m, 1<<63+5); err != nil { // above MaxInt64: capped
		t.Fatal(err)
	}
	if got := f.Remaining(); got != 1<<63-1 {
		t.Errorf("fuel %d after setting 2^63+5, want MaxInt64", got)
	}
	if err := SetFuel(m, 100); err != nil {
		t.Fatal(err)
	}
	call(t, m, "straight")
	if got := FuelUsed(m, 100); got != 4 {
		t.Errorf("FuelUsed = %d, want 4", got)
	}
	if IsOutOfFuel(m, nil) {
		t.Error("IsOutOfFuel true for a nil error")
	}
}

// TestFuelChargeFromHost checks that a host function charging the fuel stops
// a guest that loops over cheap host calls, and that the stop is reported as
// out of fuel: with the whole budget set at once, and with a Budget in
// slices, where a charge that spends the slice refills as refuel does and
// the guest is stopped after the same number of calls.
func TestFuelChargeFromHost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, e := range engines {
		for _, sliced := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sliced=%v", e.name, sliced), func(t *testing.T) {
				t.Parallel()
				r := wazero.NewRuntimeWithConfig(ctx, e.cfg())
				t.Cleanup(func() { r.Close(ctx) })
				instantiateMeter(t, r)
				calls := 0
				errHostOutOfFuel := errors.New("out of fuel in host function")
				_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
					WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, _ []uint64) {
						calls++
						if c, ok := ctx.Value(slicedKey{}).(*slicedCall); ok {
							if !c.b.Charge(1000) && !c.b.Refill() {
								panic(errHostOutOfFuel)
							}
							return
						}
						f, err := NewFuel(m)
						if err != nil {
							panic(err)
						}
						if !f.Charge(1000) {
							panic(errHostOutOfFuel)
						}
					}), nil, nil).Export("work").Instantiate(ctx)
				if err != nil {
					t.Fatal(err)
				}
				m := instantiate(t, r, mustMeter(t, readTestdata(t, "hostcall.wasm"), MeterOptions{}))
				f, err := NewFuel(m)
				if err != nil {
					t.Fatal(err)
				}
				b := &Budget{Fuel: f}
				callCtx := ctx
				if sliced {
					b.Start(100_000, 5000)
					callCtx = withBudget(ctx, &slicedCall{b: b})
				} else {
					b.Start(100_000, 0) // all at once: f.Set(100_000)
				}
				_, err = m.ExportedFunction("loop_calls").Call(callCtx)
				if !errors.Is(err, errHostOutOfFuel) || !b.Exhausted(err) || !sliced && !f.Exhausted(err) {
					t.Fatalf("got %v with %d used, want the host's out-of-fuel panic", err, b.Used())
				}
				// Each iteration costs 1000 in the host and 3 in the guest
				// (call, br, end).
				if calls != 100_000/1003+1 {
					t.Errorf("%d host calls, want %d", calls, 100_000/1003+1)
				}
				if used := b.Used(); used <= 100_000 || used > 101_003 {
					t.Errorf("used %d, want just over 100000", used)
				}
			})
		}
	}
}
