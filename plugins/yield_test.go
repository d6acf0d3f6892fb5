package plugins

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

// runningInstance returns an instance of p whose call is inside the guest,
// waiting for one to be.
func runningInstance(t *testing.T, p *Plugin) *instance {
	t.Helper()
	var found *instance
	waitFor(t, func() bool {
		p.pool.mu.Lock()
		defer p.pool.mu.Unlock()
		for i := range p.pool.all {
			if i.callStart.Load() != 0 {
				found = i
				return true
			}
		}
		return false
	})
	return found
}

// TestYieldHandsSlotOver: with one CPU slot, a tenant looping forever in its
// guest hands the slot over at each refuel to a lighter tenant's waiting
// call (Engine.yieldCPU), so the light tenant's calls all succeed while the
// loop runs, none with KindBusy. The loop's budget (longLimits) lasts a few
// seconds, longer than MaxCPUWait, which is itself far longer than a slice:
// without the handover the light tenant's first call would fail busy, or
// return only after the loop ended.
func TestYieldHandsSlotOver(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: time.Second})
	heavy := load(t, newTestTenant(t, e, SandboxOptions{ID: "heavy", Limits: longLimits()}), "loop", wat(t, "infinite_loop"))
	light := load(t, newTestTenant(t, e, SandboxOptions{ID: "light"}), "echo", wat(t, "echo"))

	type result struct {
		err  error
		info CallInfo
	}
	done := make(chan result, 1)
	go func() {
		_, info, err := heavy.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		done <- result{err, info}
	}()
	loop := runningInstance(t, heavy)

	const calls = 20
	for k := range calls {
		reply, _, err := light.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		if err != nil {
			t.Fatalf("light call %d while the loop runs: %v (kind %s)", k, err, KindOf(err))
		}
		if len(reply) == 0 {
			t.Fatalf("light call %d: empty reply", k)
		}
		select {
		case r := <-done:
			t.Fatalf("the loop ended before light call %d returned (%v): the light call did not run beside it", k, r.err)
		default:
		}
	}
	errStop := errors.New("test over")
	loop.abort(KindClosed, errStop)
	r := <-done
	if KindOf(r.err) != KindClosed || !errors.Is(r.err, errStop) {
		t.Fatalf("the loop ended with %v, want the abort", r.err)
	}
	if st := e.CPUStats(); st.Busy != 0 || st.Waiting != 0 {
		t.Errorf("CPU share after the calls: %+v, want every slot free", st)
	}
	t.Logf("the loop ran %d instructions while %d light calls went through", r.info.Instructions, calls)
}

// holdSlot takes a CPU slot through the engine's fair share for a tenant
// account of its own that has burned nothing, as a light tenant's call
// would (waiting up to sandbox.max_cpu_wait, asking again while the share
// answers busy), and returns the function that gives it back. A granted
// guest sleep gives its slot up, so it cannot hold one; this does.
func holdSlot(t *testing.T, e *Engine) (release func()) {
	t.Helper()
	acct := new(tenantCPU)
	for attempt := 1; ; attempt++ {
		_, err := e.cpu.acquire(context.Background(), acct)
		if err == nil {
			break
		}
		if attempt == 1000 {
			t.Fatalf("no CPU slot after %d attempts: %v", attempt, err)
		}
	}
	return func() { e.cpu.release(acct, 0, time.Now()) }
}

// napBesideLoop starts a call of an infinite loop under lim in a tenant
// "heavy", then has a light tenant take the CPU slot from it and hold it
// for napMs (holdSlot); it returns when the slot is given back, with the
// loop's instance and the channel that gets the loop call's error.
func napBesideLoop(t *testing.T, e *Engine, lim limits.Limits, napMs int) (*instance, <-chan error) {
	t.Helper()
	heavy := load(t, newTestTenant(t, e, SandboxOptions{ID: "heavy", Limits: lim}), "loop", wat(t, "infinite_loop"))
	done := loopingCall(t, heavy)
	loop := runningInstance(t, heavy)
	// The light tenant waits for the slot as long as the engine lets any
	// call wait, which some tests make short; on a loaded machine the loop
	// may take longer than that to reach its next refuel and hand the slot
	// over. holdSlot asks again until it does.
	release := holdSlot(t, e)
	time.Sleep(time.Duration(napMs) * time.Millisecond)
	release()
	return loop, done
}

// TestYieldThenBusy: a call that hands its slot to a lighter tenant and gets
// none back within MaxCPUWait ends with KindBusy, and the slot it no longer
// holds is not released twice: every slot is free afterwards.
func TestYieldThenBusy(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: 10 * time.Millisecond})
	// The light tenant holds the slot for half a second in a real sleep:
	// fifty times the heavy call's wait.
	loop, done := napBesideLoop(t, e, longLimits(), 500)
	select {
	case err := <-done:
		if KindOf(err) != KindBusy {
			t.Fatalf("the heavy call ended with %v, want busy", err)
		}
	case <-time.After(30 * time.Second):
		loop.abort(KindClosed, errors.New("test over"))
		t.Fatalf("the heavy call got its slot back after waiting past MaxCPUWait: %v", <-done)
	}
	if st := e.CPUStats(); st.Busy != 0 || st.Waiting != 0 {
		t.Errorf("CPU share after the calls: %+v, want every slot free and none released twice", st)
	}
}

// TestYieldWaitIsNotRunaway: time a call spends without a CPU slot, after
// handing it to a lighter tenant, is not counted against its wall-clock
// backstop (CallTimeout): a legitimate heavy call that waited longer than
// its CallTimeout for other tenants goes on running when it gets its slot
// back, instead of ending cpu_time (which would count towards its breaker
// for the host's congestion). It failed before the backstop excluded waits.
func TestYieldWaitIsNotRunaway(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: 30 * time.Second})
	lim := longLimits()
	lim.CallTimeout = time.Second
	// The light tenant holds the slot in a real sleep, 1.5 times the heavy
	// call's backstop.
	loop, done := napBesideLoop(t, e, lim, 1500)
	// The heavy call has its slot back. Were the wait part of its backstop,
	// it would end cpu_time at its next refuel, a fraction of a millisecond
	// from now; it has most of a second of guest time left instead.
	time.Sleep(50 * time.Millisecond)
	errStop := errors.New("test over")
	loop.abort(KindClosed, errStop)
	if err := <-done; KindOf(err) != KindClosed || !errors.Is(err, errStop) {
		t.Fatalf("the heavy call ended with %v (kind %s), want it still running when aborted", err, KindOf(err))
	}
}

// TestInstantiationHoldsCPUSlot: creating an instance runs guest code
// (_initialize), so it needs a CPU slot like a call: while another tenant
// holds the only slot, a call that would need a new instance ends busy
// without instantiating. Before, the instance was built outside the share
// (a crash loop's rebuilds took cores unaccounted) and only the call itself
// waited.
func TestInstantiationHoldsCPUSlot(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: 10 * time.Millisecond})
	lim := testLimits()
	lim.MaxCallsPerInstance = 1 // every call needs a new instance
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "fresh", Limits: lim}), "echo", wat(t, "echo"))
	if _, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil {
		t.Fatal(err) // uses up the load's instance
	}
	release := holdSlot(t, e) // another tenant's call holds the only slot

	before := p.Stats().Created
	_, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
	if KindOf(err) != KindBusy {
		t.Fatalf("call needing an instance while the slot is held: %v, want busy", err)
	}
	if after := p.Stats().Created; after != before {
		t.Fatalf("created %d instances while every CPU slot was held", after-before)
	}
	release()
	if _, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil {
		t.Fatalf("after the slot is free: %v", err)
	}
	if st := e.CPUStats(); st.Busy != 0 || st.Waiting != 0 {
		t.Errorf("CPU share after the calls: %+v, want every slot free", st)
	}
}

// TestInitializeYields: a metered _initialize hands its CPU slot to a
// lighter tenant at its refuels, as a call does: with one slot, a light
// tenant's call goes through while another tenant's instance spends seconds
// in _initialize. Before, the light call waited until the _initialize ended.
func TestInitializeYields(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1})
	light := load(t, newTestTenant(t, e, SandboxOptions{ID: "light"}), "echo", wat(t, "echo"))
	lim := testLimits()
	lim.InitInstructions = 10_000_000_000 // seconds of the loop
	slow := newTestTenant(t, e, SandboxOptions{ID: "slow", Limits: lim})
	loaded := make(chan error, 1)
	go func() {
		_, err := slow.Load(context.Background(), "init", wat(t, "init_loop"))
		loaded <- err
	}()
	waitFor(t, func() bool { return e.CPUStats().Busy == 1 }) // the _initialize runs
	if _, _, err := light.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil {
		t.Fatalf("light call during the other tenant's _initialize: %v", err)
	}
	select {
	case err := <-loaded:
		t.Fatalf("the _initialize ended (%v) before the light call returned: it did not hand its slot over", err)
	default:
	}
	if err := <-loaded; KindOf(err) != KindCPUTime {
		t.Fatalf("the looping _initialize ended with %v, want cpu_time", err)
	}
	if st := e.CPUStats(); st.Busy != 0 || st.Waiting != 0 {
		t.Errorf("CPU share after: %+v, want every slot free", st)
	}
}

// TestGrantedSleepReleasesSlot: a guest sleeping with the nanotime grant
// gives its CPU slot up for the sleep, as a host function waiting on I/O
// does: with one slot, another tenant's call runs while it sleeps. Before,
// the sleeper held the slot and the other call ended busy after
// MaxCPUWait. The sleep stays inside the call's wall-clock backstop.
func TestGrantedSleepReleasesSlot(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CPUSlots: 1, MaxCPUWait: 5 * time.Second})
	lim := longLimits()
	lim.CallTimeout = time.Minute // the sleep stays inside it
	sleeper := load(t, newTestTenant(t, e, SandboxOptions{ID: "sleeper", Limits: lim, Grants: limits.Grants{Nanotime: true}}), "nap", goWasm(t, "kitchen"))
	other := load(t, newTestTenant(t, e, SandboxOptions{ID: "other", Limits: longLimits()}), "echo", wat(t, "echo"))
	napped := make(chan error, 1)
	go func() {
		_, _, err := sleeper.Call(context.Background(), seedCommand, []byte("!nap 50000"), nil)
		napped <- err
	}()
	nap := runningInstance(t, sleeper)
	waitFor(t, func() bool { return e.CPUStats().Busy == 0 }) // asleep, its slot given up
	if _, _, err := other.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil {
		t.Fatalf("a call beside a sleeping guest: %v, want it to run (the sleeper gave its slot up)", err)
	}
	select {
	case err := <-napped:
		t.Fatalf("the sleep ended early: %v", err)
	default:
	}
	errStop := errors.New("test over")
	nap.abort(KindClosed, errStop)
	if err := <-napped; KindOf(err) != KindClosed {
		t.Fatalf("the sleeper ended with %v, want the abort", err)
	}
	if st := e.CPUStats(); st.Busy != 0 || st.Waiting != 0 {
		t.Errorf("CPU share after the calls: %+v, want every slot free", st)
	}
}
