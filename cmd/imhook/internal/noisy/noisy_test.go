package noisy

import (
	"context"
	"testing"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestGuests runs every noisy guest on the before-send callbacks the noisy
// tenant is sent, under the default limits: the runaway ones burn their
// whole budget, the heavy one uses about HeavyInstructions and lets the
// message through. A heavy guest that ran out of budget (after a change of
// the SDK or of metering) would no longer measure the CPU share alone.
func TestGuests(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds two Go guests; skipped in -short mode")
	}
	ctx := context.Background()
	e, err := plugins.NewEngine(ctx, plugins.EngineOptions{MaxCPUWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	// The default budget decides each guest's outcome; the wall-clock
	// backstop is the machine's (the heavy guest takes 4 ms alone and may
	// take 100 ms on a loaded one under the race detector), so it is long.
	lim := limits.Default()
	lim.CallTimeout = 10 * time.Second
	sb, err := e.NewSandbox(plugins.SandboxOptions{ID: "noisy", Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	guests := []struct {
		name string
		wasm []byte
	}{
		{"loop", Loop},
		{"recursion", Recursion},
		{"spin", wasmbuild.GoOnce(t, "github.com/imhook/imhook/cmd/imhook/internal/noisy/spin", wasmbuild.Release())},
		{"heavy", wasmbuild.GoOnce(t, "github.com/imhook/imhook/cmd/imhook/internal/noisy/heavy", wasmbuild.Release())},
	}
	var bodies []loadgen.Callback
	for _, cb := range loadgen.DefaultMix() {
		if cb.Name == "single-text" || cb.Name == "group-text" {
			bodies = append(bodies, cb)
		}
	}
	for _, g := range guests {
		p, err := sb.Load(ctx, g.name, g.wasm)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		for _, cb := range bodies {
			reply, info, err := p.Call(ctx, cb.Command, cb.Body, nil)
			if g.name != "heavy" {
				if plugins.KindOf(err) != plugins.KindCPUTime {
					t.Errorf("%s %s: err %v, want cpu_time", g.name, cb.Name, err)
				}
				continue
			}
			if err != nil || len(reply) != 0 || info.Instructions < HeavyInstructions*8/10 || info.Instructions > HeavyInstructions*12/10 {
				t.Errorf("%s %s: reply %q, %d instructions, err %v; want no reply, about %d instructions",
					g.name, cb.Name, reply, info.Instructions, err, HeavyInstructions)
			}
		}
	}
}
