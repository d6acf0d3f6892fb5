package plugins

import (
	"context"
	"testing"
)

// BenchmarkCallCompute measures long calls, where the slices of the budget
// (cpu.go, refuelSlice) cost the most:
//
//   - fib27-go: the kitchen guest's naive fib(27), 56.6 million
//     instructions, 56 refills metered; against the same call with no CPU
//     limit;
//   - loop-wat: infinite_loop.wat stopped by the default budget of 100
//     million instructions (99 refills), the instance dropped and the next
//     one created: what a hostile guest costs per call.
//
// Run with -benchtime=20x or more.
func BenchmarkCallCompute(b *testing.B) {
	ctx := context.Background()
	for _, lim := range []struct {
		name  string
		force CPULimit
	}{{"nolimit", CPULimitNone}, {"metered", ""}} {
		b.Run("fib27-go/"+lim.name, func(b *testing.B) {
			p := benchPluginLimits(b, goWasm(b, "kitchen"), testLimits(), lim.force)
			body := []byte("!fib 27")
			var info CallInfo
			var err error
			cpu := cpuNow()
			for b.Loop() {
				if _, info, err = p.Call(ctx, seedCommand, body, nil); err != nil {
					b.Fatal(err)
				}
			}
			reportCPUPerOp(b, cpu)
			b.ReportMetric(float64(info.Instructions), "insns/op")
		})
	}
	b.Run("loop-wat/metered", func(b *testing.B) {
		p := benchPluginLimits(b, wat(b, "infinite_loop"), testLimits(), "")
		p.breaker.off = true // every call fails on purpose
		body := []byte(seedBody)
		var info CallInfo
		var err error
		cpu := cpuNow()
		for b.Loop() {
			if _, info, err = p.Call(ctx, seedCommand, body, nil); KindOf(err) != KindCPUTime {
				b.Fatal(err)
			}
		}
		reportCPUPerOp(b, cpu)
		b.ReportMetric(float64(info.Instructions), "insns/op")
	})
}
