package wasmrewrite

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/imhook/imhook/sdk/wasmbuild"
)

// engines are the wazero configurations every behaviour test runs on.
var engines = []struct {
	name string
	cfg  func() wazero.RuntimeConfig
}{
	{"interpreter", wazero.NewRuntimeConfigInterpreter},
	{"compiler", wazero.NewRuntimeConfigCompiler},
}

// compiled is shared by every runtime of the test binary so that each module
// is compiled once per engine: the Go guest takes about a second.
var compiled = wazero.NewCompilationCache()

// skipHeavy skips tests that build and compile Go guests in -short mode and
// under the race detector.
func skipHeavy(tb testing.TB) {
	tb.Helper()
	if testing.Short() || raceEnabled {
		tb.Skip("builds and compiles Go guests: slow in -short mode and under -race")
	}
}

// goGuest returns the bytes of the Go test guest. It skips the test in -short
// mode and under the race detector: compiling the 3 MB guest takes wazero
// seconds, and minutes with -race, while the code under test runs no
// goroutines of its own.
func goGuest(tb testing.TB) []byte {
	tb.Helper()
	skipHeavy(tb)
	return wasmbuild.GoOnce(tb, "./testdata/goguest", wasmbuild.Options{})
}

// readTestdata returns a committed fixture.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustMeter meters wasm and checks that the result is valid.
func mustMeter(tb testing.TB, wasm []byte, opt MeterOptions) []byte {
	tb.Helper()
	out, err := Meter(wasm, opt)
	if err != nil {
		tb.Fatalf("Meter: %v", err)
	}
	validate(tb, out)
	return out
}

// validate checks a rewritten module with wabt's wasm-validate when it is
// installed, and always with wazero's compiler.
func validate(tb testing.TB, wasm []byte) {
	tb.Helper()
	if path, err := exec.LookPath("wasm-validate"); err == nil {
		f := filepath.Join(tb.TempDir(), "m.wasm")
		if err := os.WriteFile(f, wasm, 0o600); err != nil {
			tb.Fatal(err)
		}
		if out, err := exec.Command(path, f).CombinedOutput(); err != nil {
			tb.Fatalf("wasm-validate: %v\n%s", err, out)
		}
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(compiled))
	defer r.Close(ctx)
	if _, err := r.CompileModule(ctx, wasm); err != nil {
		tb.Fatalf("wazero rejects the rewritten module: %v", err)
	}
}

// newRuntime returns a runtime with WASI and the refuel import, closed when
// the test ends.
func newRuntime(tb testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCompilationCache(compiled))
	tb.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	instantiateMeter(tb, r)
	return r
}

// errOutOfFuel is what the tests' refuel panics with to stop a guest.
var errOutOfFuel = errors.New("out of fuel")

// slicedCall is the context value of a call that gets its budget in slices.
type slicedCall struct {
	b       *Budget
	refuels int // how often the guest called refuel
	// resize, when set, gives the size of the next slice after each
	// refill (Budget.Resize), from the refill's number.
	resize func(refuels int) uint64
}

// withBudget returns a context whose guest calls refuel from c.b.
func withBudget(ctx context.Context, c *slicedCall) context.Context {
	return context.WithValue(ctx, slicedKey{}, c)
}

// slicedKey is the context key of a *slicedCall.
type slicedKey struct{}

// refuel is the tests' MeterModule.RefuelFunc. Called with a context from
// withBudget it refills that Budget, and stops the guest when the budget is
// spent; otherwise the whole budget was set at once (Fuel.Set), and the
// guest is stopped the first time it finds its fuel negative.
func refuel(ctx context.Context, _ []uint64) {
	if c, ok := ctx.Value(slicedKey{}).(*slicedCall); ok {
		c.refuels++
		if c.b.Refill() {
			if c.resize != nil {
				c.b.Resize(c.resize(c.refuels))
			}
			return
		}
	}
	panic(errOutOfFuel)
}

// instantiateMeter adds the MeterModule host module, with refuel, to r.
func instantiateMeter(tb testing.TB, r wazero.Runtime) {
	tb.Helper()
	_, err := r.NewHostModuleBuilder(MeterModule).
		NewFunctionBuilder().WithGoFunction(api.GoFunc(refuel), nil, nil).Export(RefuelFunc).
		Instantiate(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
}

// instantiate compiles and instantiates wasm as an anonymous module, running
// the given start functions.
func instantiate(tb testing.TB, r wazero.Runtime, wasm []byte, start ...string) api.Module {
	tb.Helper()
	ctx := context.Background()
	c, err := r.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName("").WithStartFunctions(start...))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// call calls an export and fails the test on error.
func call(tb testing.TB, m api.Module, name string, args ...uint64) []uint64 {
	tb.Helper()
	f := m.ExportedFunction(name)
	if f == nil {
		tb.Fatalf("no export %q", name)
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil {
		tb.Fatalf("%s%v: %v", name, args, err)
	}
	return res
}
