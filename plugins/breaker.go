package plugins

import (
	"sync"
	"sync/atomic"
	"time"
)

// A plugin whose calls keep ending in cpu_time, memory or trap burns a CPU
// slot and an instance (which is then dropped and rebuilt) on every call
// for nothing: its callbacks get the failure policy anyway. The breaker
// stops entering such a plugin for a backoff period: its calls fail at once
// with KindBreakerOpen (the host answers the failure policy), then one probe
// call is let through; its success closes the breaker, its failure doubles
// the backoff.

// Breaker settings.
const (
	// breakerThreshold failures in a row open the breaker: few enough that
	// a crash loop stops within a second of traffic, enough that an odd
	// request that loops does not pause a healthy plugin.
	breakerThreshold = 5
	breakerMinPause  = time.Second
	breakerMaxPause  = time.Minute
)

// Breaker states.
const (
	breakerClosed   int32 = iota // calls enter the guest
	breakerOpen                  // calls fail at once until the pause ends
	breakerHalfOpen              // one probe call is in the guest
)

// breaker is one plugin's crash-loop breaker. Its fast path, a closed
// breaker and a call that did not fail, is two atomic loads.
type breaker struct {
	// off disables the breaker, for tests that call a crashing plugin on
	// purpose; set before the first call.
	off bool

	state  atomic.Int32
	streak atomic.Int32 // failures in a row while closed

	mu     sync.Mutex
	until  time.Time     // end of the pause while open
	pause  time.Duration // the current pause
	last   Kind          // the failure that opened it last
	opened uint64        // times opened
}

// allow reports whether a call starting at now may enter the guest. A
// half-open breaker lets through only the probe that made it half-open.
func (b *breaker) allow(now time.Time) bool {
	ok, _ := b.admit(now)
	return ok
}

// admit is allow, and also reports whether the call is the probe.
func (b *breaker) admit(now time.Time) (ok, probe bool) {
	if b.off || b.state.Load() == breakerClosed {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() == breakerOpen && !now.Before(b.until) {
		b.state.Store(breakerHalfOpen) // this call is the probe
		return true, true
	}
	return b.state.Load() == breakerClosed, false
}

// closed reports whether calls enter the guest. A call admitted while the
// breaker was closed asks again once it has its instance and CPU slot: the
// calls of a crash loop queue for those, and without a second look every
// one queued when the breaker opened would still burn a whole budget.
func (b *breaker) closed() bool {
	return b.off || b.state.Load() == breakerClosed
}

// abandon is called when an allowed call did not enter the guest (no
// instance, no CPU slot): a probe that did not run gives no verdict, so the
// next call probes instead.
func (b *breaker) abandon(now time.Time) {
	if b.state.Load() != breakerHalfOpen {
		return
	}
	b.mu.Lock()
	if b.state.Load() == breakerHalfOpen {
		b.state.Store(breakerOpen)
		b.until = now
	}
	b.mu.Unlock()
}

// crashKind reports whether a failure counts towards the breaker: the kinds
// that mean the plugin itself is broken or runaway, not a bad request or a
// busy host.
func crashKind(k Kind) bool {
	return k == KindCPUTime || k == KindMemory || k == KindTrap
}

// record notes how an allowed call ended (kind 0: success) and reports
// whether it opened the breaker, and for how long.
func (b *breaker) record(kind Kind, now time.Time) (opened bool, pause time.Duration) {
	if b.off {
		return false, 0
	}
	crash := crashKind(kind)
	if b.state.Load() == breakerClosed {
		if !crash {
			if b.streak.Load() != 0 {
				b.streak.Store(0)
			}
			return false, 0
		}
		if b.streak.Add(1) < breakerThreshold {
			return false, 0
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case breakerHalfOpen:
		if !crash {
			b.state.Store(breakerClosed)
			b.streak.Store(0)
			b.pause = 0
			return false, 0
		}
		b.pause = min(2*b.pause, breakerMaxPause)
	case breakerClosed:
		if b.streak.Load() < breakerThreshold {
			return false, 0 // another call's success reset it meanwhile
		}
		b.pause = breakerMinPause
	default:
		return false, 0 // already open: a call that was let in before it opened
	}
	b.state.Store(breakerOpen)
	b.streak.Store(0)
	b.until = now.Add(b.pause)
	b.last = kind
	b.opened++
	return true, b.pause
}

// BreakerStats describes a plugin's crash-loop breaker.
type BreakerStats struct {
	// State is "closed" (calls enter the plugin), "open" (calls get the
	// failure policy without entering it) or "half_open" (one probe call
	// is running).
	State string `json:"state"`
	// Until is when an open breaker lets a probe call through.
	Until time.Time `json:"until,omitzero"`
	// LastFailure is the failure kind that opened it last.
	LastFailure string `json:"last_failure,omitempty"`
	// Opened counts how often it opened.
	Opened uint64 `json:"opened"`
}

func (b *breaker) stats() BreakerStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerStats{State: "closed", Opened: b.opened}
	if b.last != 0 {
		s.LastFailure = b.last.String()
	}
	switch b.state.Load() {
	case breakerOpen:
		s.State, s.Until = "open", b.until
	case breakerHalfOpen:
		s.State = "half_open"
	}
	return s
}
