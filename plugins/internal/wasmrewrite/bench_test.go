package wasmrewrite

import (
	"context"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// BenchmarkCall compares one call of a Go guest export on wazero's compiler:
//
//   - unlimited: the original module, no CPU limit at all;
//   - metered: the metered module, fuel set before each call;
//   - close_on_done: the original module on a runtime with
//     WithCloseOnContextDone(true), each call under a 100 ms deadline.
//
// docs/metering.md reports the ratios.
func BenchmarkCall(b *testing.B) {
	orig := goGuest(b)
	metered, err := Meter(orig, MeterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, export := range []struct {
		name string
		args []uint64
	}{
		{"callback", nil},
		{"fib", []uint64{15}},
		{"json_round", []uint64{1}},
	} {
		b.Run(export.name+"/unlimited", func(b *testing.B) {
			m := instantiate(b, newRuntime(b, wazero.NewRuntimeConfigCompiler()), orig, "_initialize")
			benchCall(b, m.ExportedFunction(export.name), export.args, func() context.Context { return ctx }, nil)
		})
		b.Run(export.name+"/metered", func(b *testing.B) {
			m := instantiate(b, newRuntime(b, wazero.NewRuntimeConfigCompiler()), metered, "_initialize")
			fuel, err := NewFuel(m)
			if err != nil {
				b.Fatal(err)
			}
			const budget = 100_000_000
			benchCall(b, m.ExportedFunction(export.name), export.args, func() context.Context { return ctx },
				func() { fuel.Set(budget) })
			b.ReportMetric(float64(fuel.Used(budget)), "instructions/op")
		})
		b.Run(export.name+"/close_on_done", func(b *testing.B) {
			cfg := wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true)
			m := instantiate(b, newRuntime(b, cfg), orig, "_initialize")
			var cancel context.CancelFunc
			benchCall(b, m.ExportedFunction(export.name), export.args, func() context.Context {
				if cancel != nil {
					cancel()
				}
				var c context.Context
				c, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				return c
			}, nil)
			cancel()
		})
	}
}

// benchCall calls f b.N times with a reused stack, the way the runtime calls
// guests, calling before (if not nil) ahead of each call.
func benchCall(b *testing.B, f api.Function, args []uint64, ctx func() context.Context, before func()) {
	b.Helper()
	stack := make([]uint64, max(len(args), len(f.Definition().ResultTypes()), 1))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		copy(stack, args)
		if before != nil {
			before()
		}
		if err := f.CallWithStack(ctx(), stack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInstantiate measures instantiating the Go guest and running its
// _initialize, with its data segments as Go emits them and merged.
func BenchmarkInstantiate(b *testing.B) {
	orig := goGuest(b)
	merged, err := MergeDataSegments(orig)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wasm []byte
	}{{"go_segments", orig}, {"merged", merged}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newRuntime(b, wazero.NewRuntimeConfigCompiler())
			c, err := r.CompileModule(ctx, tc.wasm)
			if err != nil {
				b.Fatal(err)
			}
			cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				m, err := r.InstantiateModule(ctx, c, cfg)
				if err != nil {
					b.Fatal(err)
				}
				m.Close(ctx)
			}
		})
	}
}

// BenchmarkRewrite measures the upload-time cost of rewriting the Go guest
// (3.3 MB with encoding/json).
func BenchmarkRewrite(b *testing.B) {
	orig := goGuest(b)
	b.Run("meter", func(b *testing.B) {
		b.SetBytes(int64(len(orig)))
		b.ReportAllocs()
		for range b.N {
			if _, err := Meter(orig, MeterOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		b.SetBytes(int64(len(orig)))
		b.ReportAllocs()
		for range b.N {
			if _, err := MergeDataSegments(orig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
