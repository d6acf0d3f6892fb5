package plugins

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestStackBudget: a guest recursing without end, while another tenant is
// served, is stopped by its call stack budget, a quarter of its memory cap,
// with KindMemory and a message that says so; the instance is dropped and
// the plugin serves again.
func TestStackBudget(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	goodEcho := load(t, newTestTenant(t, e, SandboxOptions{ID: "good"}), "echo", wat(t, "echo"))
	evil := newTestTenant(t, e, SandboxOptions{ID: "evil"}) // testLimits: 256 pages, 16 MiB
	p := load(t, evil, "bomb", wat(t, "stack_bomb"))
	echo := load(t, evil, "echo", wat(t, "echo"))

	stop := hammer(t, goodEcho)
	start := time.Now()
	_, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
	took := time.Since(start)
	calls, fails := stop()

	want := "call stack exhausted: calls nested deeper than the stack budget of 4096 KiB, a quarter of memory_pages"
	if KindOf(err) != KindMemory || !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want memory: %s", err, want)
	}
	// Bounded, not timed: the machine may be loaded.
	if took > 30*time.Second {
		t.Errorf("stopped after %s", took)
	}
	if fails != 0 || calls == 0 {
		t.Errorf("good tenant: %d of %d calls failed during the hostile call", fails, calls)
	}
	if s := p.Stats(); s.Dropped != 1 {
		t.Errorf("stats %+v, want the failed instance dropped", s)
	}
	if r, _, err := echo.Call(context.Background(), seedCommand, []byte("after"), nil); err != nil || string(r) != "after" {
		t.Errorf("next call on the tenant: %q, %v", r, err)
	}
}
