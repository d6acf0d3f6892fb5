package plugins

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// ctxRecorder is a slog.Handler that keeps, for each record, the value the
// context given to Handle holds under ctxRecorderKey.
type ctxRecorder struct {
	mu   sync.Mutex
	seen []any
}

type ctxRecorderKey struct{}

func (h *ctxRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *ctxRecorder) Handle(ctx context.Context, _ slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, ctx.Value(ctxRecorderKey{}))
	return nil
}

func (h *ctxRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *ctxRecorder) WithGroup(string) slog.Handler      { return h }

// TestLogContext checks that a guest's log line reaches the tenant's
// handler with the context the caller gave Plugin.Call, under both CPU
// limits, so a host can attach a request ID to plugin log lines.
func TestLogContext(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	for _, tc := range []struct {
		name string
		cpu  CPULimit
	}{{"instructions", ""}, {"deadline", CPULimitDeadline}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &ctxRecorder{}
			tn := newTestTenant(t, e, SandboxOptions{ID: "ctx-" + tc.name, CPULimit: tc.cpu, Logger: slog.New(h)})
			p := load(t, tn, "echo", wat(t, "echo"))
			for _, id := range []string{"op-1", "op-2"} {
				ctx := context.WithValue(context.Background(), ctxRecorderKey{}, id)
				if _, _, err := p.Call(ctx, seedCommand, []byte("#line"), nil); err != nil {
					t.Fatal(err)
				}
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.seen) != 2 || h.seen[0] != "op-1" || h.seen[1] != "op-2" {
				t.Errorf("handler saw context values %v, want [op-1 op-2]", h.seen)
			}
		})
	}
}
