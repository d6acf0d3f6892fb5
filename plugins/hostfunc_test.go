package plugins

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
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

// TestHostFuncsDocumented holds docs/abi.md's table of the host module to
// hostFuncs: the same functions with the same types, in both directions.
func TestHostFuncsDocumented(t *testing.T) {
	documented := abiRows(t, abi.HostModule)
	for _, f := range hostFuncs {
		grant := f.grant
		if grant == "" {
			grant = "none"
		}
		want := watSignature(f) + " | " + grant + " | " + f.cost()
		got, ok := documented[f.name]
		switch {
		case !ok:
			t.Errorf("docs/abi.md does not list %s.%s %s", abi.HostModule, f.name, want)
		case got != want:
			t.Errorf("docs/abi.md gives %s.%s as %s, the host provides %s", abi.HostModule, f.name, got, want)
		}
		delete(documented, f.name)
	}
	for name := range documented {
		t.Errorf("docs/abi.md lists %s.%s, which the host does not provide", abi.HostModule, name)
	}
}

// abiRows returns docs/abi.md's table rows of module's functions,
// | `module.name` | `(type) -> type` | column | column |, as "type | column |
// column" by name.
func abiRows(t *testing.T, module string) map[string]string {
	t.Helper()
	doc, err := os.ReadFile("../docs/abi.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(module) + `\.(\w+)` + "` \\| `([^`]*)` \\| ([^|]+) \\| ([^|]+) \\|$")
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = m[2] + " | " + m[3] + " | " + m[4]
	}
	if len(rows) == 0 {
		t.Fatalf("docs/abi.md: no rows of %s found (| `%s.name` | `(type) -> type` | ... | ... |)", module, module)
	}
	return rows
}

// watSignature writes a host function's type as docs/abi.md does:
// (level i32, ptr i32, len i32) -> ().
func watSignature(f hostFunc) string {
	params := make([]string, len(f.params))
	for k, p := range f.params {
		params[k] = f.paramNames[k] + " " + api.ValueTypeName(p)
	}
	results := "()"
	if len(f.results) == 1 {
		results = api.ValueTypeName(f.results[0])
	} else if len(f.results) > 1 {
		names := make([]string, len(f.results))
		for k, r := range f.results {
			names[k] = api.ValueTypeName(r)
		}
		results = "(" + strings.Join(names, ", ") + ")"
	}
	return "(" + strings.Join(params, ", ") + ") -> " + results
}

// TestHostFuncGrants: a module importing a host function that needs a grant
// loads only for a tenant that holds it, and the refusal says so.
func TestHostFuncGrants(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, wat(t, "echo")) // imports imhook.log
	if err != nil {
		t.Fatal(err)
	}
	table := slices.Clone(hostFuncs)
	for k := range table {
		if table[k].name == abi.FuncLog {
			table[k].grant = limits.GrantRandom // as if log needed a grant
		}
	}
	err = table.checkGrants(cm, limits.Grants{})
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "guest imports func[imhook.log], which needs grant[random]") {
		t.Fatalf("without the grant: %v", err)
	}
	if err := table.checkGrants(cm, limits.Grants{Random: true}); err != nil {
		t.Fatalf("with the grant: %v", err)
	}
	if err := hostFuncs.checkGrants(cm, limits.Grants{}); err != nil {
		t.Fatalf("log needs no grant today: %v", err)
	}
}

// countHandler counts the records it is given.
type countHandler struct {
	mu sync.Mutex
	n  int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(context.Context, slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

// TestLogLines: a guest logging empty lines in a loop, while another tenant
// is served, is stopped at max_log_lines, or at max_log_bytes when it may
// log more lines (each line counts 64 bytes at least), and only the lines
// within the limit reach the tenant's logger.
func TestLogLines(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	goodEcho := load(t, newTestTenant(t, e, SandboxOptions{ID: "good"}), "echo", wat(t, "echo"))
	manyLines := testLimits()
	manyLines.MaxLogLines = 10_000
	for _, tc := range []struct {
		name      string
		limits    limits.Limits
		wantErr   string
		wantLines int
	}{
		{"line cap", testLimits(), "guest logged 101 lines in one call > max_log_lines[100]", 100},
		{"bytes of empty lines", manyLines, "guest logged 16448 bytes in one call (a line counts at least 64) > max_log_bytes[16384]", 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &countHandler{}
			tn := newTestTenant(t, e, SandboxOptions{ID: "chatty", Limits: tc.limits, Logger: slog.New(h)})
			defer tn.Close(context.Background())
			p := load(t, tn, "empty", wat(t, "log_empty"))
			stop := hammer(t, goodEcho)
			_, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
			calls, fails := stop()
			if KindOf(err) != KindLogBytes || !errors.Is(err, ErrLogLimit) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want log_bytes: %s", err, tc.wantErr)
			}
			if h.n != tc.wantLines {
				t.Errorf("the logger got %d lines, want %d", h.n, tc.wantLines)
			}
			if fails != 0 || calls == 0 {
				t.Errorf("good tenant: %d of %d calls failed", fails, calls)
			}
			// A dry run returns the lines within the limit.
			_, info, err := p.Call(WithLogCapture(context.Background()), seedCommand, []byte(seedBody), nil)
			if KindOf(err) != KindLogBytes || len(info.Logs) != tc.wantLines {
				t.Errorf("dry run: %d lines, %v", len(info.Logs), err)
			}
		})
	}
}
