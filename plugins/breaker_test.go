package plugins

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBreakerStates(t *testing.T) {
	var b breaker
	now := time.Unix(1000, 0)
	for k := 1; k < breakerThreshold; k++ {
		if opened, _ := b.record(KindTrap, now); opened {
			t.Fatalf("opened after %d failures", k)
		}
	}
	// A success in between resets the streak.
	b.record(0, now)
	for k := 1; k < breakerThreshold; k++ {
		b.record(KindCPUTime, now)
	}
	if !b.allow(now) {
		t.Fatal("closed breaker refused a call")
	}
	// Failures that are not the plugin's crash do not count.
	b.record(KindGuestError, now)
	for k := 1; k < breakerThreshold; k++ {
		b.record(KindMemory, now)
	}
	opened, pause := b.record(KindMemory, now)
	if !opened || pause != breakerMinPause {
		t.Fatalf("record = %v, %s; want opened for %s", opened, pause, breakerMinPause)
	}
	if b.allow(now.Add(pause - time.Nanosecond)) {
		t.Fatal("open breaker let a call in before its pause ended")
	}
	if s := b.stats(); s.State != "open" || s.LastFailure != "memory" || s.Opened != 1 || !s.Until.Equal(now.Add(pause)) {
		t.Fatalf("stats %+v", s)
	}
	// The pause ends: one probe, nobody else.
	now = now.Add(pause)
	if !b.allow(now) || b.allow(now) {
		t.Fatal("want exactly one probe after the pause")
	}
	// A failed probe doubles the pause.
	if opened, pause = b.record(KindTrap, now); !opened || pause != 2*breakerMinPause {
		t.Fatalf("failed probe: %v %s", opened, pause)
	}
	// A probe that never entered the guest gives no verdict.
	now = now.Add(pause)
	if !b.allow(now) {
		t.Fatal("no probe")
	}
	b.abandon(now)
	if !b.allow(now) {
		t.Fatal("after an abandoned probe the next call must probe")
	}
	// A successful probe closes it and resets the pause.
	if opened, _ := b.record(0, now); opened || b.stats().State != "closed" || !b.allow(now) {
		t.Fatalf("successful probe left %+v", b.stats())
	}
	for k := 1; k < breakerThreshold; k++ {
		b.record(KindTrap, now)
	}
	if _, pause = b.record(KindTrap, now); pause != breakerMinPause {
		t.Fatalf("pause after closing again = %s, want %s", pause, breakerMinPause)
	}
	// The pause is capped.
	for range 20 {
		now = now.Add(breakerMaxPause)
		b.allow(now)
		_, pause = b.record(KindTrap, now)
	}
	if pause != breakerMaxPause {
		t.Fatalf("pause %s, want the cap %s", pause, breakerMaxPause)
	}
}

// TestBreakerStopsCrashLoop: a plugin that traps on every call is not
// entered after breakerThreshold failures in a row; its calls fail at once
// with ErrBreakerOpen and no instance is created or dropped for them.
func TestBreakerStopsCrashLoop(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "crashy"}), "trap", wat(t, "trap"))
	ctx := context.Background()
	for k := range breakerThreshold {
		if _, _, err := p.Call(ctx, seedCommand, []byte(seedBody), nil); !errors.Is(err, ErrTrap) {
			t.Fatalf("call %d: %v, want a trap", k, err)
		}
	}
	before := p.Stats()
	for range 10 {
		_, _, err := p.Call(ctx, seedCommand, []byte(seedBody), nil)
		if !errors.Is(err, ErrBreakerOpen) || KindOf(err) != KindBreakerOpen {
			t.Fatalf("want ErrBreakerOpen, got %v", err)
		}
	}
	if after := p.Stats(); after.Created != before.Created || after.Dropped != before.Dropped {
		t.Fatalf("the guest was entered while the breaker was open: %+v -> %+v", before, after)
	}
	if s := p.Breaker(); s.State != "open" || s.LastFailure != "trap" {
		t.Fatalf("breaker %+v", s)
	}
}

// TestBreakerStopsQueuedCalls: when a crash loop's calls queue for the CPU,
// the breaker that opens stops the queued ones too, not just those that
// arrive later: each would otherwise burn a whole budget on its way to the
// same failure. With one slot and 16 callers of a guest that runs out of
// budget, at most the threshold plus the calls already in the guest when it
// opened (the one holding the slot, one parked) end cpu_time; before calls
// looked at the breaker again once they had their slot, all 16 did.
func TestBreakerStopsQueuedCalls(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: time.Minute})
	lim := testLimits()
	lim.MaxInstances = 16
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "loop", Limits: lim}), "loop", wat(t, "infinite_loop"))
	const callers = 16
	kinds := make(chan Kind, callers)
	for range callers {
		go func() {
			_, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
			kinds <- KindOf(err)
		}()
	}
	counts := map[Kind]int{}
	for range callers {
		counts[<-kinds]++
	}
	if counts[KindCPUTime]+counts[KindBreakerOpen] != callers {
		t.Fatalf("calls ended %v, want only cpu_time and breaker_open", counts)
	}
	// The calls already in the guest when the breaker opened may finish
	// their budget too: the one holding the slot, and the one parked after
	// handing it over to the next call of the tenant (fair.go, yield).
	if n := counts[KindCPUTime]; n > breakerThreshold+2 {
		t.Fatalf("%d calls burned their budget, want at most %d: the queued calls ran after the breaker opened (%v)", n, breakerThreshold+2, counts)
	}
}
