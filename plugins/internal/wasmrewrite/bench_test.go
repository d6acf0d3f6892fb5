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
//     WithCloseOnContextDone(true), each call under a deadline (1 s, long
//     enough never to fire on a loaded machine; its length costs nothing).
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
				c, cancel = context.WithTimeout(ctx, time.Second)
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

// BenchmarkOverhead reports the cost of each way to limit CPU relative to
// no limit, measured in one run on a shared machine: each op times a batch
// of calls of every variant back to back, and the fastest batch of each
// variant over all ops gives the ratios (the minimum is the estimate least
// disturbed by other processes). Run with -benchtime=50x or more.
func BenchmarkOverhead(b *testing.B) {
	overhead(b, goGuest(b), []string{"_initialize"}, []overheadCall{
		{"callback", nil, 200},
		{"fib", []uint64{15}, 20},
		{"json_round", []uint64{1}, 10},
	})
}

// BenchmarkOverheadWorstCase is BenchmarkOverhead on the corpus's tight loop
// and tiny recursive function, where metering costs the most relative to the
// work done.
func BenchmarkOverheadWorstCase(b *testing.B) {
	overhead(b, readTestdata(b, "corpus.wasm"), nil, []overheadCall{
		{"sum", []uint64{300_000}, 1},
		{"fib", []uint64{22}, 1},
	})
}

type overheadCall struct {
	name  string
	args  []uint64
	batch int
}

func overhead(b *testing.B, orig []byte, start []string, calls []overheadCall) {
	metered, err := Meter(orig, MeterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	noCtx := func() (context.Context, context.CancelFunc) { return ctx, func() {} }
	for _, export := range calls {
		b.Run(export.name, func(b *testing.B) {
			unlimited := instantiate(b, newRuntime(b, wazero.NewRuntimeConfigCompiler()), orig, start...)
			mm := instantiate(b, newRuntime(b, wazero.NewRuntimeConfigCompiler()), metered, start...)
			fuel, err := NewFuel(mm)
			if err != nil {
				b.Fatal(err)
			}
			closing := instantiate(b, newRuntime(b, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(true)), orig, start...)
			variants := []struct {
				f      api.Function
				before func()
				ctx    func() (context.Context, context.CancelFunc)
			}{
				{unlimited.ExportedFunction(export.name), func() {}, noCtx},
				{mm.ExportedFunction(export.name), func() { fuel.Set(1 << 50) }, noCtx},
				{closing.ExportedFunction(export.name), func() {}, func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(ctx, time.Minute)
				}},
			}
			best := make([]time.Duration, len(variants))
			stack := make([]uint64, max(1, len(export.args)))
			b.ResetTimer()
			for range b.N {
				for i, v := range variants {
					start := time.Now()
					for range export.batch {
						copy(stack, export.args)
						v.before()
						c, cancel := v.ctx()
						if err := v.f.CallWithStack(c, stack); err != nil {
							b.Fatal(err)
						}
						cancel()
					}
					if d := time.Since(start); best[i] == 0 || d < best[i] {
						best[i] = d
					}
				}
			}
			per := func(i int) float64 { return float64(best[i].Nanoseconds()) / float64(export.batch) }
			b.ReportMetric(per(0), "ns/unlimited")
			b.ReportMetric(per(1), "ns/metered")
			b.ReportMetric(per(2), "ns/close_on_done")
			b.ReportMetric(per(1)/per(0), "metered/unlimited")
			b.ReportMetric(per(2)/per(0), "close_on_done/unlimited")
		})
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
