package guestmem

import (
	"bytes"
	"testing"

	"github.com/tetratelabs/wazero/experimental"
)

func TestGrowKeepsContentsAndStopsAtMax(t *testing.T) {
	const page = 64 << 10
	for _, tc := range []struct {
		name string
		mem  func() experimental.LinearMemory
	}{
		{"mapped", func() experimental.LinearMemory { return Allocator{}.Allocate(page, 4*page) }},
		{"heap", func() experimental.LinearMemory { return &heap{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mem()
			defer m.Free()
			b := m.Reallocate(page)
			if len(b) != page || b[0] != 0 || b[page-1] != 0 {
				t.Fatalf("first page: len %d, want %d zero bytes", len(b), page)
			}
			copy(b, "guest data")
			b = m.Reallocate(3 * page)
			if len(b) != 3*page || !bytes.HasPrefix(b, []byte("guest data")) || b[3*page-1] != 0 {
				t.Fatalf("grown: len %d, prefix %q; want %d bytes, contents kept, new pages zero", len(b), b[:10], 3*page)
			}
			b[3*page-1] = 1
		})
	}
	m := Allocator{}.Allocate(page, 2*page)
	defer m.Free()
	if b := m.Reallocate(3 * page); b != nil {
		t.Errorf("grow past the reservation returned %d bytes, want nil (memory.grow fails)", len(b))
	}
	m.Free()
	m.Free() // wazero frees once; a second free must not unmap anything else
}

func TestUnmappableFallsBackToHeap(t *testing.T) {
	m := Allocator{}.Allocate(0, 0) // nothing to map: the heap serves it
	if _, ok := m.(*heap); !ok {
		t.Fatalf("got %T, want the heap fallback", m)
	}
	if b := m.Reallocate(10); len(b) != 10 {
		t.Errorf("len %d, want 10", len(b))
	}
}
