//go:build unix

package plugins

import (
	"syscall"
	"testing"
	"time"
)

// cpuNow is the CPU time (user + system) this process has consumed so far.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPUPerOp adds the metric cpu-ns/op, the process's CPU time per
// iteration since since. Wall time per op grows with the machine's load; CPU
// time much less, so it is the figure to compare on a shared machine. It
// includes the garbage collector and wazero's watcher goroutine.
func reportCPUPerOp(b *testing.B, since time.Duration) {
	if b.N > 0 {
		b.ReportMetric(float64(cpuNow()-since)/float64(b.N), "cpu-ns/op")
	}
}
