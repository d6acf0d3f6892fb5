//go:build unix

package wasmbench

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user plus system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: CPU time per op since start. On a shared
// machine wall time per op grows with the load; CPU time per op much less, so
// this is the figure to compare across runs (with -cpu 1 it excludes nothing
// but the benchmark itself and its GC).
func reportCPU(b *testing.B, start time.Duration, ops int) {
	if ops > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(ops), "cpu-ns/op")
	}
}
