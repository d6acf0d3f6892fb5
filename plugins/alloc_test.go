//go:build !race

package plugins

import (
	"context"
	"testing"
)

// TestWarmCallAllocs checks that a call on a warm instance without a CPU limit
// allocates nothing when dst has room for the reply.
func TestWarmCallAllocs(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{Limits: testLimits(), CPULimit: CPULimitNone})
	body := []byte(seedBody)
	for _, g := range []struct {
		name string
		wasm []byte
	}{{"echo-wat", wat(t, "echo")}, {"seed-go", goWasm(t, "kitchen")}} {
		t.Run(g.name, func(t *testing.T) {
			p := load(t, tn, g.name, g.wasm)
			dst := make([]byte, 0, 512)
			ctx := context.Background()
			allocs := testing.AllocsPerRun(200, func() {
				if _, _, err := p.Call(ctx, seedCommand, body, dst[:0]); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per warm call, want 0", allocs)
			}
		})
	}
}
