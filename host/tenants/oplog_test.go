package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

// TestOperationIDHandler checks that opHandler adds operation_id exactly to
// the records logged with a context from withOperationID, through loggers
// derived with With, and that other context values still resolve.
func TestOperationIDHandler(t *testing.T) {
	t.Parallel()
	type otherKey struct{}
	base := context.WithValue(context.Background(), otherKey{}, "kept")
	tests := []struct {
		name string
		ctx  context.Context
		want any // operation_id in the record; nil for none
	}{
		{"with operation id", withOperationID(base, []byte("op-7")), "op-7"},
		{"empty operation id", withOperationID(base, nil), nil},
		{"plain context", base, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(opHandler{slog.NewJSONHandler(&buf, nil)}).With("tenant", "acme")
			log.InfoContext(tc.ctx, "guest line", "command", "callbackX")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log output %q: %v", buf.String(), err)
			}
			if rec["operation_id"] != tc.want || rec["tenant"] != "acme" || rec["command"] != "callbackX" {
				t.Errorf("record %v, want operation_id %v with tenant and command", rec, tc.want)
			}
			if got := tc.ctx.Value(otherKey{}); got != "kept" {
				t.Errorf("other context value %v, want kept", got)
			}
		})
	}
}
