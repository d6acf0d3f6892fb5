package wasmrewrite_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
)

// Meter a module at upload, then give each call a budget and read what it
// used.
func ExampleMeter() {
	ctx := context.Background()
	wasm, err := os.ReadFile("testdata/runaway.wasm")
	if err != nil {
		panic(err)
	}
	metered, err := wasmrewrite.Meter(wasm, wasmrewrite.MeterOptions{})
	if err != nil {
		panic(err)
	}

	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	// The metered module imports imhook_meter.refuel, which it calls when a
	// check finds its fuel negative. Given the whole budget at once, the
	// host stops the guest there.
	_, err = r.NewHostModuleBuilder(wasmrewrite.MeterModule).NewFunctionBuilder().
		WithGoFunction(api.GoFunc(func(context.Context, []uint64) { panic("out of fuel") }), nil, nil).
		Export(wasmrewrite.RefuelFunc).Instantiate(ctx)
	if err != nil {
		panic(err)
	}
	mod, err := r.Instantiate(ctx, metered)
	if err != nil {
		panic(err)
	}
	fuel, err := wasmrewrite.NewFuel(mod)
	if err != nil {
		panic(err)
	}

	// "spin" is an infinite loop. Each iteration costs 2 (br, end); the
	// check after the charge that overdraws calls refuel.
	fuel.Set(1_000_000)
	_, err = mod.ExportedFunction("spin").Call(ctx)
	fmt.Println("out of fuel:", fuel.Exhausted(err))
	fmt.Println("used:", fuel.Used(1_000_000))
	// Output:
	// out of fuel: true
	// used: 1000002
}
