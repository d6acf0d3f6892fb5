package plugins

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Issue 12 item 2: a deleted tenant's or a replaced version's calls end with
// it. The guest loops forever under a budget that lasts seconds
// (longLimits), so only the abort can end its call soon after Close.

// loopingCall starts a call of p's infinite loop and returns once it runs in
// the guest; the channel gets its error.
func loopingCall(t *testing.T, p *Plugin) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		done <- err
	}()
	runningInstance(t, p)
	return done
}

// TestCloseTenantAbortsCalls: Sandbox.Close (the tenant was deleted) aborts
// the calls running in its plugins at once: it returns without waiting for
// its ctx, and the looping call ends with KindClosed.
func TestCloseTenantAbortsCalls(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "deleted", Limits: longLimits()})
	p := load(t, tn, "loop", wat(t, "infinite_loop"))
	done := loopingCall(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := tn.Close(ctx); err != nil {
		t.Fatalf("Sandbox.Close: %v", err)
	}
	select {
	case err := <-done:
		if KindOf(err) != KindClosed || !errors.Is(err, ErrClosed) || !errors.Is(err, errTenantDeleted) {
			t.Fatalf("the looping call ended with %v, want KindClosed, the tenant was deleted", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the looping call did not end after Sandbox.Close")
	}
	if _, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); KindOf(err) != KindClosed {
		t.Errorf("a call after Close: %v, want KindClosed", err)
	}
}

// TestClosePluginAbortsStragglers: Plugin.Close (the version was replaced)
// waits for the calls in flight until its ctx ends, then aborts them; the
// looping call then ends with KindClosed and the plugin drains.
func TestClosePluginAbortsStragglers(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "replaced", Limits: longLimits()})
	p := load(t, tn, "loop", wat(t, "infinite_loop"))
	done := loopingCall(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Plugin.Close with a call looping: %v, want ctx's error", err)
	}
	select {
	case err := <-done:
		if KindOf(err) != KindClosed || !errors.Is(err, ErrClosed) || !errors.Is(err, errVersionReplaced) {
			t.Fatalf("the looping call ended with %v, want KindClosed, the version was replaced", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the looping call did not end after Close aborted it")
	}
	select {
	case <-p.pool.drained:
	case <-time.After(time.Minute):
		t.Fatal("the plugin did not drain after its last call ended")
	}
	if s := p.Stats(); s.Dropped != 1 {
		t.Errorf("dropped %d instances, want the aborted one", s.Dropped)
	}
}

// TestAbortDeadlineModeGuest: an abort stops a guest that runs in deadline
// mode (it cannot be metered, so it never refuels and never sees the abort
// flag) the way its deadline would, long before that deadline, and the call
// ends with the abort's kind. Before, only its CallTimeout ended it.
func TestAbortDeadlineModeGuest(t *testing.T) {
	e := newTestEngine(t, EngineOptions{DeadlineFallback: true})
	lim := testLimits()
	lim.CallTimeout = time.Minute
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "unmeterable", Limits: lim}), "loop", wat(t, "unmeterable_loop"))
	if got := p.Info().CPULimit; got != CPULimitDeadline {
		t.Fatalf("CPU limit %s, want %s", got, CPULimitDeadline)
	}
	done := loopingCall(t, p)
	loop := runningInstance(t, p)
	errStop := errors.New("test over")
	loop.abort(KindClosed, errStop)
	select {
	case err := <-done:
		if KindOf(err) != KindClosed || !errors.Is(err, errStop) {
			t.Fatalf("the looping call ended with %v (kind %s), want the abort", err, KindOf(err))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the aborted deadline-mode call still runs")
	}
	if s := p.Stats(); s.Dropped != 1 {
		t.Errorf("dropped %d instances, want the aborted one", s.Dropped)
	}
}
