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
type mmapped struct {
	buf  []byte
	hwm  uint64 // the largest size Reallocate returned: what the guest may have written
	pool *Pool  // where Free keeps it; nil unmaps
}

// mapped returns a memory of max bytes: one the pool kept, cleared, or a new
// mapping; nil when it cannot map (the caller falls back to the heap).
func mapped(max uint64, pool *Pool) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	if m := pool.take(max); m != nil {
		m.pool = pool
		return m
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return &mmapped{buf: b, pool: pool}
}

// Reallocate returns the first size bytes of the reservation: growing never
// moves or copies the memory.
func (m *mmapped) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(cap(m.buf)) {
		return nil // wazero fails the grow: memory.grow returns -1
	}
	m.hwm = max(m.hwm, size)
	return m.buf[:size]
}

// Free hands the memory to its pool, or unmaps it: its pages go back to the
// system now. wazero calls it when the instance is closed, which imhook
// never does during a call. A second Free does nothing.
func (m *mmapped) Free() {
	if m.buf == nil {
		return
	}
	pool := m.pool
	m.pool = nil
	// The pool may hand the mapping to another instance at once: this
	// LinearMemory must not be used after, so the pool gets a copy of it.
	if pool != nil && pool.put(&mmapped{buf: m.buf, hwm: m.hwm}) {
		m.buf = nil
		return
	}
	m.unmap()
}

// unmap gives the mapping back to the system.
func (m *mmapped) unmap() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf[:cap(m.buf)])
		m.buf = nil
	}
}
