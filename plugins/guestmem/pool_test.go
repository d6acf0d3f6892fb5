//go:build unix

package guestmem

import (
	"bytes"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

const page = 64 << 10 // a wasm page

// dirty fills b with a tenant's secret.
func dirty(b []byte) {
	for k := range b {
		b[k] = byte(k%251) | 1
	}
}

// mustBeZero fails the test at the first byte of b that is not zero.
func mustBeZero(t *testing.T, what string, b []byte) {
	t.Helper()
	if k := bytes.IndexFunc(b, func(r rune) bool { return r != 0 }); k >= 0 {
		t.Fatalf("%s: byte %d of %d is not zero: the last guest's data leaked", what, k, len(b))
	}
}

// TestPoolReuseIsCleared: a memory served again from the pool reads as zeros
// everywhere, whatever the last guest wrote and whatever the kernel did with
// its pages: resident, dropped (as the kernel does when it swaps a page
// out), touched only in parts, grown to the whole reservation.
func TestPoolReuseIsCleared(t *testing.T) {
	pool := NewPool(64 << 20)
	a := Allocator{Pool: pool}
	for _, tc := range []struct {
		name  string
		write func(m []byte)
	}{
		{"all of it", dirty},
		{"scattered pages", func(m []byte) {
			for off := 0; off < len(m); off += 3 * 4096 {
				m[off] = 0xAA
			}
		}},
		{"then some pages dropped", func(m []byte) {
			dirty(m)
			_ = unix.Madvise(m[2*page:3*page], unix.MADV_DONTNEED)
			m[2*page+5] = 0xBB // and touched again
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := a.Allocate(page, 8*page)
			tc.write(m.Reallocate(5 * page))
			m.Free()
			before := pool.Stats().Reused
			m = a.Allocate(page, 8*page)
			defer m.Free()
			if pool.Stats().Reused != before+1 {
				t.Fatalf("stats %+v: the memory was not reused", pool.Stats())
			}
			mustBeZero(t, "reused", m.Reallocate(8*page))
		})
	}
}

// TestPoolBounds: the pool keeps mappings up to its limit (their high-water
// marks) and unmaps the rest; only a mapping of the same reservation is
// reused; Trim empties it; a second Free keeps nothing twice.
func TestPoolBounds(t *testing.T) {
	pool := NewPool(3 * page)
	a := Allocator{Pool: pool}
	m1, m2 := a.Allocate(page, 4*page), a.Allocate(page, 4*page)
	m1.Reallocate(2 * page)
	m2.Reallocate(2 * page)
	m1.Free()
	m1.Free()
	m2.Free() // 2 + 2 pages > 3: unmapped
	if s := pool.Stats(); s.Kept != 1 || s.KeptSize != 2*page || s.Released != 1 {
		t.Fatalf("stats %+v, want one mapping kept (2 pages), one released", s)
	}
	other := a.Allocate(page, 2*page) // another reservation: mapped anew
	other.Free()                      // hwm 0: kept, counted as minCharge
	if s := pool.Stats(); s.Reused != 0 || s.Kept != 2 {
		t.Fatalf("stats %+v, want nothing reused and two kept", s)
	}
	pool.Trim()
	if s := pool.Stats(); s.Kept != 0 || s.KeptSize != 0 {
		t.Fatalf("after Trim: %+v", s)
	}
	m := Allocator{}.Allocate(page, 2*page) // no pool: nothing kept
	m.Reallocate(page)
	m.Free()
	var nilPool *Pool
	if s := nilPool.Stats(); s != (PoolStats{}) {
		t.Errorf("nil pool stats %+v", s)
	}
}

// TestPoolBoundsUntouchedMemories: memories their guests never grew (a
// high-water mark of 0) still count against the limit, so a tenant churning
// instances of such a module cannot make the pool keep mappings without end.
func TestPoolBoundsUntouchedMemories(t *testing.T) {
	pool := NewPool(4 * minCharge)
	a := Allocator{Pool: pool}
	var ms []interface{ Free() }
	for range 100 {
		ms = append(ms, a.Allocate(0, 2*page))
	}
	for _, m := range ms {
		m.Free()
	}
	if s := pool.Stats(); s.Kept != 4 || s.Released != 96 {
		t.Errorf("stats %+v, want 4 kept and 96 unmapped", s)
	}
	pool.Trim()
}

// TestPoolConcurrentTenants: guests on many goroutines take memories, find
// them zero, fill them with their own data and close them, sharing one pool.
func TestPoolConcurrentTenants(t *testing.T) {
	pool := NewPool(16 * 4 * page)
	a := Allocator{Pool: pool}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 50 {
				m := a.Allocate(page, 4*page)
				b := m.Reallocate(uint64(1+(g+k)%4) * page)
				if i := bytes.IndexFunc(b, func(r rune) bool { return r != 0 }); i >= 0 {
					t.Errorf("goroutine %d, memory %d: byte %d not zero", g, k, i)
					return
				}
				dirty(b)
				m.Free()
			}
		})
	}
	wg.Wait()
	if s := pool.Stats(); s.Reused == 0 {
		t.Errorf("stats %+v: nothing reused", s)
	}
}
