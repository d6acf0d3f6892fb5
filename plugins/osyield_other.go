//go:build !linux

package plugins

// osYield is osyield_linux.go's on other systems, where it does nothing:
// their guests' threads wait for the kernel's own preemption.
func osYield() {}
