// Package guestmem backs guests' linear memories with memory mapped outside
// the Go heap: the whole maximum is reserved at instantiation and pages
// become resident only when the guest touches them, growing never copies,
// and closing an instance returns its pages to the system at once instead
// of at the Go collector's next cycle (and the collector never counts guest
// memory towards its target, so it does not double it).
//
//	ctx = experimental.WithMemoryAllocator(ctx, guestmem.Allocator{})
//
// Each memory is one mapping of memory_pages x 64 KiB of address space (32
// MiB by default): VSZ grows with the instances, RSS with the pages touched.
// Where mapping is not available or fails (vm.max_map_count reached, an
// overcommit policy that refuses the reservation), memories live in the Go
// heap as wazero would allocate them.
//
// Whatever a host function hands to work that may outlive the call must be
// copied out of guest memory: an instance's memory is unmapped when it closes.
package guestmem

import "github.com/tetratelabs/wazero/experimental"

// Allocator is a wazero MemoryAllocator (experimental.WithMemoryAllocator).
// With a Pool, closed memories are kept, cleared, and reused (Pool says
// why); without one, each is unmapped when its instance closes.
type Allocator struct{ Pool *Pool }

// Allocate reserves max bytes (cap is only a hint) and returns the memory.
func (a Allocator) Allocate(cap, max uint64) experimental.LinearMemory {
	if m := mapped(max, a.Pool); m != nil {
		return m
	}
	return &heap{buf: make([]byte, 0, cap)}
}

// heap is a linear memory in the Go heap, for when mapping fails.
type heap struct{ buf []byte }

// Reallocate grows the memory to size bytes, copying when it outgrows its
// capacity.
func (h *heap) Reallocate(size uint64) []byte {
	if size > uint64(cap(h.buf)) {
		grown := make([]byte, size, max(size, 2*uint64(cap(h.buf))))
		copy(grown, h.buf)
		h.buf = grown
	}
	h.buf = h.buf[:size]
	return h.buf
}

// Free drops the memory; the collector frees it.
func (h *heap) Free() { h.buf = nil }
