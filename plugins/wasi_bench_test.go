package plugins

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkWASI measures one call of each WASI function a guest can loop on
// (testdata/wasi_flood.wat), through the whole gate: the ns and the
// instructions billed per WASI call, from a guest call that makes n of them.
func BenchmarkWASI(b *testing.B) {
	p := benchPlugin(b, wat(b, "wasi_flood"), testLimits().CallTimeout)
	ctx := context.Background()
	for _, op := range []struct {
		name string
		op   byte
		n    int
	}{
		{"sched_yield", 'y', 1000},
		{"clock_time_get", 'c', 1000},
		{"poll_oneoff/1", 'o', 1000},
		{"poll_oneoff/40000", 'p', 1000},
		{"fd_read_stdin", 'r', 1000},
		{"fd_prestat_get", 'f', 1000},
		{"fd_write/1024_iovecs", 'w', 100},
		{"fd_write/100000_iovecs", 'W', 1000},
		{"fd_write_stderr", 'e', 1000},
		{"random_get/1MiB", 'g', 5},
	} {
		b.Run(op.name, func(b *testing.B) {
			body := []byte(string(op.op) + strconv.Itoa(op.n))
			var instr uint64
			cpu := cpuNow()
			for b.Loop() {
				_, info, err := p.Call(ctx, seedCommand, body, nil)
				if err != nil {
					b.Fatal(err)
				}
				instr = info.Instructions
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*op.n), "ns/wasi-call")
			b.ReportMetric(float64(instr)/float64(op.n), "instr/wasi-call")
			reportCPUPerOp(b, cpu)
		})
	}
}
