package plugins

import "syscall"

// osYield gives the core this guest runs on to another thread that is
// waiting for it, if any (sched_yield; it returns at once when none is).
// Gosched lets the goroutines of this P run, but the host's other threads
// (the network poller, a callback of another tenant on a spare P) wait for
// the kernel to preempt the guest's thread, which takes a time slice of
// several milliseconds when the threads outnumber the cores. Yielding at
// every slice of the budget bounds that wait by one slice instead. It is a
// raw system call: nothing blocks, so the Go runtime need not know.
func osYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
