package plugins

import (
	"context"
	"sync"
	"testing"
)

// TestMemoryPoolIsolation: the engine keeps closed instances' memories for
// new instances (guestmem.Pool), and a memory one tenant's guest filled with
// its data reaches another tenant's next instance cleared. Every instance
// serves one call (max_calls_per_instance 1), so each writer's memory goes
// back to the pool before the reader's instance is made.
func TestMemoryPoolIsolation(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxCallsPerInstance = 1
	spy := wat(t, "memory_spy")
	pw := load(t, newTestTenant(t, e, SandboxOptions{ID: "writer", Limits: lim}), "spy", spy)
	pr := load(t, newTestTenant(t, e, SandboxOptions{ID: "reader", Limits: lim}), "spy", spy)
	before := e.MemoryPoolStats()
	ctx := context.Background()
	for k := range 5 {
		if _, _, err := pw.Call(ctx, "callbackBeforeSendSingleMsgCommand", []byte("w"), nil); err != nil {
			t.Fatalf("writer call %d: %v", k, err)
		}
		if _, _, err := pr.Call(ctx, "callbackBeforeSendSingleMsgCommand", []byte("r"), nil); err != nil {
			t.Fatalf("reader call %d: %v: it found the writer's bytes in its memory", k, err)
		}
	}
	if s := e.MemoryPoolStats(); s.Reused-before.Reused < 5 {
		t.Errorf("pool stats %+v (before %+v): the readers' memories were not reused ones", s, before)
	}
	// And served at the same time: writers' memories go back to the pool
	// while readers' instances are being made.
	var wg sync.WaitGroup
	for g := range 4 {
		p, body := pw, "w"
		if g%2 == 1 {
			p, body = pr, "r"
		}
		wg.Go(func() {
			for k := range 20 {
				if _, _, err := p.Call(ctx, "callbackBeforeSendSingleMsgCommand", []byte(body), nil); err != nil {
					t.Errorf("concurrent %q call %d: %v", body, k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	// Without the pool every memory is new, and the guests see the same.
	e2 := newTestEngine(t, EngineOptions{MemoryPool: -1})
	p2 := load(t, newTestTenant(t, e2, SandboxOptions{ID: "alone", Limits: lim}), "spy", spy)
	for _, body := range []string{"w", "r"} {
		if _, _, err := p2.Call(ctx, "callbackBeforeSendSingleMsgCommand", []byte(body), nil); err != nil {
			t.Fatalf("without a pool, %q: %v", body, err)
		}
	}
	if s := e2.MemoryPoolStats(); s.Reused != 0 {
		t.Errorf("MemoryPool -1 reused %d memories", s.Reused)
	}
}
