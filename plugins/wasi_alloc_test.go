//go:build !race

package plugins

import (
	"context"
	"testing"
)

// TestWASIAllocs: the WASI calls a guest makes on the warm path (clocks,
// sleeps, yields, writes, random bytes, refusals) allocate nothing.
func TestWASIAllocs(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "wasi"}), "flood", wat(t, "wasi_flood"))
	ctx := context.Background()
	dst := make([]byte, 0, 16)
	for _, s := range []string{"c100", "o100", "s100", "y100", "e100", "w10", "g5", "p100", "f100"} {
		body := []byte(s)
		allocs := testing.AllocsPerRun(20, func() {
			if _, _, err := p.Call(ctx, seedCommand, body, dst[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", s, allocs)
		}
	}
}
