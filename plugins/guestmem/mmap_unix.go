//go:build unix

package guestmem

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mmapped is a linear memory in an anonymous private mapping of its
// maximum size. Untouched pages cost address space, not memory; the
// mapping is MAP_NORESERVE so that reserving does not count against
// overcommit accounting either.
type mmapped struct{ buf []byte }

// mapped maps max bytes, or returns nil when it cannot (the caller falls
// back to the heap).
func mapped(max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return &mmapped{buf: b}
}

// Reallocate returns the first size bytes of the reservation: growing never
// moves or copies the memory.
func (m *mmapped) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(cap(m.buf)) {
		return nil // wazero fails the grow: memory.grow returns -1
	}
	return m.buf[:size]
}

// Free unmaps the memory: its pages go back to the system now. wazero calls
// it when the instance is closed, which imhook never does during a call.
func (m *mmapped) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf[:cap(m.buf)])
		m.buf = nil
	}
}
