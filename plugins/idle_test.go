package plugins

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idleClock replaces the engine's clock of idle release; the tests move it
// and call releaseIdle themselves, so nothing depends on the machine's speed.
func idleClock(e *Engine) *atomic.Int64 {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	e.now = func() time.Time { return time.Unix(0, now.Load()) }
	return &now
}

// TestPoolGrowsWithConcurrency: a pool holds one instance after its load and
// one more for each call running at once, up to max_instances.
func TestPoolGrowsWithConcurrency(t *testing.T) {
	e := newTestEngine(t, EngineOptions{IdleTimeout: -1})
	lim := testLimits()
	lim.MaxInstances = 3
	p := load(t, newTestTenant(t, e, SandboxOptions{Limits: lim}), "echo", wat(t, "echo"))
	if s := p.Stats(); s.Live != 1 || s.Created != 1 {
		t.Fatalf("after load: %+v, want one instance", s)
	}
	var held []*instance
	for k := 1; k <= 3; k++ {
		i, err := p.pool.get(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, i)
		if s := p.Stats(); s.Live != k || s.Created != uint64(k) {
			t.Errorf("%d calls at once: %+v, want %d instances", k, s, k)
		}
	}
	for _, i := range held {
		p.pool.put(i)
	}
	if s := p.Stats(); s.Live != 3 || s.Idle != 3 {
		t.Errorf("after the calls: %+v, want 3 idle instances", s)
	}
}

// TestIdleRelease: instances unused for the idle timeout are closed, and
// the next call creates one again and succeeds.
func TestIdleRelease(t *testing.T) {
	e := newTestEngine(t, EngineOptions{IdleTimeout: -1})
	now := idleClock(e)
	lim := testLimits()
	lim.MaxInstances = 2
	p := load(t, newTestTenant(t, e, SandboxOptions{Limits: lim}), "echo", wat(t, "echo"))
	a, _ := p.pool.get(context.Background(), false)
	b, err := p.pool.get(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	p.pool.put(a) // idle since t0
	now.Add(int64(time.Minute))
	p.pool.put(b) // idle since t0+1m

	if n := e.releaseIdle(time.Unix(0, now.Load()).Add(-30 * time.Second)); n != 1 {
		t.Errorf("released %d, want only the instance idle since before the cutoff", n)
	}
	if s := p.Stats(); s.Live != 1 || s.Idle != 1 || s.Released != 1 {
		t.Errorf("after the first sweep: %+v", s)
	}
	now.Add(int64(time.Hour))
	if n := e.releaseIdle(time.Unix(0, now.Load())); n != 1 {
		t.Errorf("released %d, want the last one", n)
	}
	if s := p.Stats(); s.Live != 0 || s.Released != 2 {
		t.Errorf("after the second sweep: %+v, want no instance", s)
	}
	if got := call(t, p, "back"); got != "back" {
		t.Errorf("call after release: %q", got)
	}
	if s := p.Stats(); s.Live != 1 || s.Created != 3 {
		t.Errorf("after the call: %+v, want a new instance", s)
	}
}

// TestCallsRacingIdleRelease: calls running while every idle instance is
// released over and over all succeed.
func TestCallsRacingIdleRelease(t *testing.T) {
	e := newTestEngine(t, EngineOptions{IdleTimeout: -1})
	p := load(t, newTestTenant(t, e, SandboxOptions{Limits: testLimits()}), "echo", wat(t, "echo"))
	var stop atomic.Bool
	released := make(chan struct{})
	go func() {
		defer close(released)
		for !stop.Load() {
			e.releaseIdle(time.Now().Add(time.Hour)) // everything idle
		}
	}()
	errs := make(chan error, 4)
	var calls sync.WaitGroup
	for range 4 {
		calls.Add(1)
		go func() {
			defer calls.Done()
			for range 100 {
				if r, _, err := p.Call(context.Background(), seedCommand, []byte("x"), nil); err != nil || string(r) != "x" {
					errs <- err
					return
				}
			}
		}()
	}
	calls.Wait()
	stop.Store(true)
	<-released
	close(errs)
	for err := range errs {
		t.Errorf("a call racing the release failed: %v", err)
	}
	if s := p.Stats(); s.Released == 0 {
		t.Logf("stats %+v: no release raced a call this time", s)
	}
}

// TestSharedCompiledModule: tenants uploading the same bytes share one
// compiled module; the second tenant's pool starts empty and its first call
// creates its instance.
func TestSharedCompiledModule(t *testing.T) {
	e := newTestEngine(t, EngineOptions{IdleTimeout: -1})
	wasm := wat(t, "echo")
	a := load(t, newTestTenant(t, e, SandboxOptions{ID: "a", Limits: testLimits()}), "echo", wasm)
	b := load(t, newTestTenant(t, e, SandboxOptions{ID: "b", Limits: testLimits()}), "echo", wasm)
	if a.compiled != b.compiled || a.rt != b.rt {
		t.Error("two tenants with the same bytes and limits: want one runtime and one compiled module")
	}
	if s := b.Stats(); s.Live != 0 {
		t.Errorf("b before its first call: %+v, want no instance", s)
	}
	if got := call(t, b, "hi"); got != "hi" {
		t.Errorf("b: %q", got)
	}
	if b.Info().Commands[0] != a.Info().Commands[0] {
		t.Errorf("b's commands %v, want a's %v", b.Info().Commands, a.Info().Commands)
	}
	// Deleting one tenant leaves the other's module working.
	if err := a.t.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := call(t, b, "still"); got != "still" {
		t.Errorf("b after a's tenant was deleted: %q", got)
	}
}
