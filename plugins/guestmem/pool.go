package guestmem

import (
	"sync"
	"sync/atomic"
)

// Pool keeps the mappings of closed instances' memories, cleared, for the
// next instances to reuse, up to a bound on the memory it holds.
//
// Why: a new mapping's pages are faulted in one by one as the guest first
// touches them (wazero writing the data segments, the guest's _initialize),
// and a page fault costs 2 to 15 us on the VMs imhook runs on (a trap to the
// hypervisor), against 0.2 us to clear a resident page. A Go guest touches
// 300 to 700 pages before its first call: 5 ms of faults per instance on the
// slowest, which was nine tenths of its cold start. A reused mapping's pages
// are resident already.
//
// A reused mapping is cleared before another guest sees it, whatever tenant
// it served: every page it may have written ([0, high-water mark)) is either
// resident, and then zeroed in place, or not (never touched, or swapped
// out), and then dropped with MADV_DONTNEED, which makes it read as zeros.
// The clearing runs in Allocate, on the instantiating goroutine, which in
// imhook holds the tenant's CPU slot: it is billed like the instantiation.
//
// A Pool is safe for concurrent use. Its zero value keeps nothing.
type Pool struct {
	limit uint64 // bytes of memory (high-water marks) kept at most

	mu   sync.Mutex
	kept uint64
	free []*mmapped // last in, first out: the most recently used pages

	reused, fresh, released atomic.Uint64
}

// NewPool returns a pool that keeps at most limit bytes of closed memories
// (their high-water marks, what may be resident, each counted as at least
// minCharge). Zero keeps nothing.
func NewPool(limit uint64) *Pool { return &Pool{limit: limit} }

// PoolStats counts what a Pool did.
type PoolStats struct {
	Reused   uint64 `json:"reused"`   // memories served from a kept mapping
	Fresh    uint64 `json:"fresh"`    // memories mapped anew (nothing kept fitted)
	Released uint64 `json:"released"` // closed memories unmapped rather than kept (the pool was full)
	Kept     int    `json:"kept"`     // mappings kept now
	KeptSize uint64 `json:"kept_bytes"`
}

// Stats returns the pool's counts.
func (p *Pool) Stats() PoolStats {
	if p == nil {
		return PoolStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Reused: p.reused.Load(), Fresh: p.fresh.Load(), Released: p.released.Load(), Kept: len(p.free), KeptSize: p.kept}
}

// minCharge is the least a kept mapping counts against the limit, whatever
// its high-water mark: a memory its guest never grew costs no resident
// page, but it is still a mapping (address space, and one of the process's
// vm.max_map_count), so the limit bounds how many are kept: 1,024 at the
// default 64 MiB.
const minCharge = 64 << 10

// charge is what m counts against the limit.
func charge(m *mmapped) uint64 { return max(m.hwm, minCharge) }

// take returns a kept mapping of max bytes, cleared, or nil.
func (p *Pool) take(max uint64) *mmapped {
	if p == nil || p.limit == 0 {
		return nil
	}
	p.mu.Lock()
	var m *mmapped
	for k := len(p.free) - 1; k >= 0; k-- {
		if uint64(cap(p.free[k].buf)) == max {
			m = p.free[k]
			p.free = append(p.free[:k], p.free[k+1:]...)
			p.kept -= charge(m)
			break
		}
	}
	p.mu.Unlock()
	if m == nil {
		p.fresh.Add(1)
		return nil
	}
	if !m.clear() {
		m.unmap()
		p.fresh.Add(1)
		return nil
	}
	p.reused.Add(1)
	return m
}

// put keeps m for reuse and reports whether it did: not when the pool is
// full.
func (p *Pool) put(m *mmapped) bool {
	if p == nil || p.limit == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kept+charge(m) > p.limit {
		p.released.Add(1)
		return false
	}
	p.kept += charge(m)
	p.free = append(p.free, m)
	return true
}

// Trim unmaps every kept mapping: their memory goes back to the system.
func (p *Pool) Trim() {
	if p == nil {
		return
	}
	p.mu.Lock()
	free := p.free
	p.free, p.kept = nil, 0
	p.mu.Unlock()
	for _, m := range free {
		m.unmap()
	}
}
