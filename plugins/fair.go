package plugins

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"time"
)

// This file shares the CPU between tenants. Guest code compiled by wazero is
// not preempted by Go's scheduler: a call keeps its OS thread and its P until
// it comes back to the host (returns, calls a host function, or refuels).
// Without admission, a tenant whose calls burn their budget takes every core
// and every other tenant's callbacks wait behind it.
//
// So a guest call must hold a CPU slot while it runs; there are as many slots
// as GOMAXPROCS (EngineOptions.CPUSlots). A call takes a free slot at once. A
// call that finds none waits, and a freed slot goes to the waiting call whose
// tenant has burned the least guest time recently (an exponentially decayed
// sum, half-life cpuHalfLife): a light tenant overtakes a heavy one, and a
// tenant that is alone uses every core. A running call gives its slot up at a
// yield point (a refuel, see cpu.go) when a lighter tenant waits. Waiting is
// bounded (EngineOptions.MaxCPUWait): past it the call fails with KindBusy
// and the host answers the tenant's failure policy at once, rather than
// letting OpenIM's own timeout answer.

// Defaults of the CPU share.
const (
	// DefaultMaxCPUWait bounds the wait for a CPU slot. A light tenant's
	// call never waits longer than the calls ahead of it in the same
	// tenant plus the current slice of one other call; a heavy tenant's
	// calls queue behind everyone's and are shed after this long.
	DefaultMaxCPUWait = 100 * time.Millisecond
	// cpuHalfLife is how fast a tenant's burned guest time is forgotten: a
	// tenant that stopped burning is treated as light again within a few
	// seconds.
	cpuHalfLife = time.Second
)

// cpuShare hands out the CPU slots.
type cpuShare struct {
	maxWait time.Duration
	// ownYield lets a call yield to its own tenant's waiting calls (yield);
	// always set but by benchmarks measuring without it.
	ownYield bool

	mu      sync.Mutex
	free    int
	slots   int
	waiters []*cpuWaiter
}

// cpuWaiter is one call waiting for a slot.
type cpuWaiter struct {
	t       *tenantCPU
	granted chan struct{} // receives once when the slot is handed over
}

// tenantCPU is one tenant's account with the CPU share.
type tenantCPU struct {
	burned float64   // decayed guest nanoseconds, as of last; guarded by cpuShare.mu
	last   time.Time // when burned was last decayed
	held   int       // slots held now; guarded by cpuShare.mu
	// parked counts the tenant's calls that handed their slot to another
	// call of the tenant and wait to resume (yield); guarded by cpuShare.mu.
	parked int
}

func newCPUShare(slots int, maxWait time.Duration) *cpuShare {
	if slots <= 0 {
		slots = runtime.GOMAXPROCS(0)
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxCPUWait
	}
	return &cpuShare{slots: slots, free: slots, maxWait: maxWait, ownYield: true}
}

// decayed returns t's burned time as of now. The caller holds s.mu.
func (t *tenantCPU) decayed(now time.Time) float64 {
	if t.burned == 0 {
		return 0
	}
	dt := now.Sub(t.last)
	if dt <= 0 {
		return t.burned
	}
	return t.burned * math.Exp2(-float64(dt)/float64(cpuHalfLife))
}

// errCPUBusy is the cause of a KindBusy failure.
var errCPUBusy = errors.New("other calls held every CPU slot for sandbox.max_cpu_wait; raise sandbox.cpu_slots, or look for a tenant burning its budget (imhook_cpu_waiting)")

// acquire takes a slot for a call of t, waiting for one until ctx is done or
// the share's maxWait passes. The fast path reads no clock.
func (s *cpuShare) acquire(ctx context.Context, t *tenantCPU) (waited bool, err error) {
	return s.acquireWithin(ctx, t, s.maxWait)
}

// acquireWithin is acquire with its own bound on the wait; 0 waits as long
// as ctx allows (a load, which has no callback waiting on it).
func (s *cpuShare) acquireWithin(ctx context.Context, t *tenantCPU, maxWait time.Duration) (waited bool, err error) {
	s.mu.Lock()
	if s.free > 0 && len(s.waiters) == 0 {
		s.free--
		t.held++
		s.mu.Unlock()
		return false, nil
	}
	w := &cpuWaiter{t: t, granted: make(chan struct{}, 1)}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()
	return true, s.waitWithin(ctx, w, maxWait)
}

// wait blocks until w is granted a slot, or gives up after the share's
// maxWait.
func (s *cpuShare) wait(ctx context.Context, w *cpuWaiter) error {
	return s.waitWithin(ctx, w, s.maxWait)
}

// waitWithin is wait with its own bound; 0 waits as long as ctx allows.
func (s *cpuShare) waitWithin(ctx context.Context, w *cpuWaiter, maxWait time.Duration) error {
	var expired <-chan time.Time
	if maxWait > 0 {
		timer := time.NewTimer(maxWait)
		defer timer.Stop()
		expired = timer.C
	}
	var err error
	select {
	case <-w.granted:
		return nil
	case <-expired:
		err = errCPUBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.mu.Lock()
	for k, x := range s.waiters {
		if x == w {
			s.waiters = append(s.waiters[:k], s.waiters[k+1:]...)
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	// The slot was handed to us as we gave up: pass it on.
	<-w.granted
	s.release(w.t, 0, time.Time{})
	return err
}

// release gives back t's slot after a call that burned ran of guest time,
// ending at now (zero when nothing was burned), and hands the slot to the
// lightest waiter.
func (s *cpuShare) release(t *tenantCPU, ran time.Duration, now time.Time) {
	s.mu.Lock()
	t.held--
	if ran > 0 {
		t.burned = t.decayed(now) + float64(ran)
		t.last = now
	}
	if w := s.nextLocked(now); w != nil {
		w.t.held++
		s.mu.Unlock()
		w.granted <- struct{}{}
		return
	}
	s.free++
	s.mu.Unlock()
}

// nextLocked removes and returns the waiter whose tenant burned the least,
// the earliest among equals, or nil. The caller holds s.mu.
func (s *cpuShare) nextLocked(now time.Time) *cpuWaiter {
	if len(s.waiters) == 0 {
		return nil
	}
	if now.IsZero() {
		now = time.Now()
	}
	best, bestBurn := 0, math.Inf(1)
	for k, w := range s.waiters {
		if b := w.t.decayed(now); b < bestBurn {
			best, bestBurn = k, b
		}
	}
	w := s.waiters[best]
	s.waiters = append(s.waiters[:best], s.waiters[best+1:]...)
	return w
}

// yield is called by a running call of t at a safe point, the end of a
// slice, having burned ran since its last accounting: when a call of a
// lighter tenant, or another call of t, waits, it hands the first of them
// (nextLocked) its slot and queues for one again. It reports whether it
// waited, and the error of that wait, nil when the call goes on holding a
// slot; after an error the call holds no slot (the caller stops the guest
// and must not release).
//
// Yielding to t's own calls lets them pass a long call instead of queueing
// behind all of it: a Go guest's call that runs its garbage collector
// (1.5-2.8 million instructions, once every few thousand calls of an
// instance) would otherwise hold up every call queued behind it, which is
// what put imhook's p999 above native's (docs/performance.md, "The tail").
// Only one call per tenant is parked that way at a time (tenantCPU.parked):
// the others run to their end as before, so a crash loop's queued calls
// still meet its breaker before they enter the guest instead of all
// entering, slice by slice, before the first has failed.
func (s *cpuShare) yield(ctx context.Context, t *tenantCPU, ran time.Duration, now time.Time) (waited bool, err error) {
	s.mu.Lock()
	if ran > 0 {
		t.burned = t.decayed(now) + float64(ran)
		t.last = now
	}
	if len(s.waiters) == 0 {
		s.mu.Unlock()
		return false, nil
	}
	mine := t.decayed(now)
	lighter, own := false, false
	for _, w := range s.waiters {
		if w.t != t && w.t.decayed(now) < mine {
			lighter = true
			break
		}
		own = own || w.t == t
	}
	park := !lighter && own && s.ownYield && t.parked == 0
	if !lighter && !park {
		s.mu.Unlock()
		return false, nil
	}
	// Hand the slot over and queue behind.
	w := s.nextLocked(now)
	w.t.held++
	t.held--
	if park {
		t.parked++
	}
	me := &cpuWaiter{t: t, granted: make(chan struct{}, 1)}
	s.waiters = append(s.waiters, me)
	s.mu.Unlock()
	w.granted <- struct{}{}
	err = s.wait(ctx, me)
	if park {
		s.mu.Lock()
		t.parked--
		s.mu.Unlock()
	}
	return true, err
}

// CPUStats is a snapshot of the CPU share.
type CPUStats struct {
	Slots   int `json:"slots"`   // guest calls that may run at once
	Busy    int `json:"busy"`    // slots held now
	Waiting int `json:"waiting"` // calls waiting for a slot
}

func (s *cpuShare) stats() CPUStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return CPUStats{Slots: s.slots, Busy: s.slots - s.free, Waiting: len(s.waiters)}
}
