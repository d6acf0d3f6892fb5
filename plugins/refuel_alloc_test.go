//go:build !race

package plugins

import (
	"context"
	"testing"
)

// TestRefuelAllocs: a metered call that crosses slices (fib(22) in the Go
// guest, about 5 million instructions, 5 refills) allocates nothing: the
// refills, their clock readings and the accounting are free of allocations,
// as the warm path is (TestWarmCallAllocs).
func TestRefuelAllocs(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	var refills int
	e.yield = func(*instance) { refills++ }
	tn := newTestTenant(t, e, SandboxOptions{Limits: testLimits()})
	p := load(t, tn, "fib", goWasm(t, "kitchen"))
	body := []byte("!fib 22")
	dst := make([]byte, 0, 512)
	ctx := context.Background()
	if _, _, err := p.Call(ctx, seedCommand, body, dst[:0]); err != nil { // warm the instance
		t.Fatal(err)
	}
	refills = 0
	allocs := testing.AllocsPerRun(20, func() {
		if _, _, err := p.Call(ctx, seedCommand, body, dst[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if refills < 20*4 {
		t.Fatalf("%d refills in 21 calls: the call does not cross slices", refills)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per metered call of %d refills, want 0", allocs, refills/21)
	}
}
