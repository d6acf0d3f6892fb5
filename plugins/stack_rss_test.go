//go:build linux && !race

package plugins

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

// rss is the process's resident set, from /proc.
func rss(t testing.TB) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * uint64(os.Getpagesize())
}

// TestStackRSS measures what deep recursion costs the host: n concurrent
// calls of stack_bomb, each on its own instance at the default memory cap
// (32 MiB, so an 8 MiB stack budget), and the same with each instance also
// filling its linear memory to the cap first (body "m"). It logs the growth
// of the process's RSS over the run (docs/sandbox.md, "Memory") and fails
// only far above the bound: per instance twice the stack budget (wazero
// doubles a stack as it grows) and, with "m", three times the memory cap
// (linear memory is a Go slice that wazero grows by copying, and a dropped
// instance's is garbage until the collector runs), plus 128 MiB.
func TestStackRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates hundreds of MiB")
	}
	n, rounds := 8, 3
	if r := os.Getenv("STACK_RSS_ROUNDS"); r != "" {
		rounds, _ = strconv.Atoi(r)
	}
	lim := testLimits()
	lim.MemoryPages = limits.Default().MemoryPages
	lim.MaxInstances = n
	// Eight calls in the guest at once: as many CPU slots, and no give-up.
	e := newTestEngine(t, EngineOptions{CPUSlots: 8, MaxCPUWait: time.Minute})
	for _, tc := range []struct {
		body string
		mem  int64 // memory caps per instance the bound allows
	}{{"stack", 0}, {"m", 3}} {
		body := tc.body
		t.Run(tc.body, func(t *testing.T) {
			tn := newTestTenant(t, e, SandboxOptions{ID: "deep", Limits: lim})
			defer tn.Close(context.Background())
			p := load(t, tn, "bomb", wat(t, "stack_bomb"))
			p.breaker.off = true // it crashes on purpose, every call
			runtime.GC()
			debug.FreeOSMemory()
			before := rss(t)
			var peak atomic.Uint64
			done := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Add(1)
			go func() {
				defer sampler.Done()
				for {
					if r := rss(t); r > peak.Load() {
						peak.Store(r)
					}
					select {
					case <-done:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}()
			for range rounds {
				var wg sync.WaitGroup
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, _, err := p.Call(context.Background(), seedCommand, []byte(body), nil); KindOf(err) != KindMemory {
							t.Errorf("call: %v, want memory", err)
						}
					}()
				}
				wg.Wait()
			}
			close(done)
			sampler.Wait()
			grew := int64(peak.Load()) - int64(before)
			memCap := int64(lim.MemoryPages) << 16
			bound := int64(n)*(tc.mem*memCap+2*int64(stackBudget(lim))) + 128<<20
			t.Logf("%d concurrent calls, %d rounds: RSS %d MiB before, peak %d MiB (+%d MiB); bound %d MiB", n, rounds, before>>20, peak.Load()>>20, grew>>20, bound>>20)
			if grew > bound {
				t.Errorf("RSS grew %d MiB, more than %d MiB", grew>>20, bound>>20)
			}
		})
	}
}
