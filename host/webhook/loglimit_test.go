package webhook

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/valyala/fasthttp"
)

// TestLogLimiter: the first line of a stream is written, the next ones
// within logEvery are counted, and the first line after the window carries
// the count; streams do not share windows.
func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := logLimiter{now: func() time.Time { return now }}
	a, b := logKey{"a", "failed"}, logKey{"b", "failed"}
	if ok, n := l.allow(a); !ok || n != 0 {
		t.Fatalf("first line: %v %d, want written with none left out", ok, n)
	}
	for range 9 {
		if ok, _ := l.allow(a); ok {
			t.Fatal("a second line within the window was written")
		}
	}
	if ok, n := l.allow(b); !ok || n != 0 {
		t.Fatalf("another tenant's first line: %v %d, want written: one tenant's failures must not hide another's", ok, n)
	}
	now = now.Add(logEvery)
	if ok, n := l.allow(a); !ok || n != 9 {
		t.Fatalf("after the window: %v %d, want written standing for the 9 left out", ok, n)
	}
	if ok, n := l.allow(a); ok || n != 0 {
		t.Fatalf("right after: %v %d, want left out", ok, n)
	}
}

// TestLogLimiterBounded: more streams than maxLogKeys within one window do
// not grow the limiter past its bound.
func TestLogLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := logLimiter{now: func() time.Time { return now }}
	for i := range 3 * maxLogKeys {
		l.allow(logKey{tenant: "t" + string(rune(i)), kind: "failed"})
		if len(l.keys) > maxLogKeys {
			t.Fatalf("%d keys after %d streams, want at most %d", len(l.keys), i+1, maxLogKeys)
		}
	}
}

// lockedLines collects a JSON log's lines.
type lockedLines struct{ syncbuf.Buffer }

// records returns the lines whose msg is msg.
func (l *lockedLines) records(tb testing.TB, msg string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestFailureLogIsLimited: a tenant whose plugin traps on every callback,
// and a client posting to unknown tenants, write one warning per stream and
// window, not one per callback; the line after the window says how many were
// left out, and another tenant's failure in the same window is written. The
// metrics count every callback.
func TestFailureLogIsLimited(t *testing.T) {
	e := newTestEnv(t, true)
	var lines lockedLines
	e.h.log = slog.New(slog.NewJSONHandler(&lines, nil))
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	e.h.warned.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e.installFile(t, "noisy", "trap", "../../plugins/testdata/trap.wasm")
	e.installFile(t, "quiet", "trap", "../../plugins/testdata/trap.wasm")

	post := func(path string) int {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI(path)
		ctx.Request.SetBodyString(`{"callbackCommand":"callbackAfterGroupMsgReadCommand","groupID":"g","sendID":"u","seqs":[1]}`)
		e.h.Serve(&ctx)
		return ctx.Response.StatusCode()
	}
	const n = 50
	for i := range n {
		if st := post("/hooks/noisy/callbackAfterGroupMsgReadCommand"); st != 200 {
			t.Fatalf("callback %d: status %d, want the failure policy's 200", i, st)
		}
		if st := post("/hooks/nobody" + string(rune('a'+i%26)) + "/callbackAfterGroupMsgReadCommand"); st != 404 {
			t.Fatalf("unknown tenant: status %d, want 404", st)
		}
	}
	post("/hooks/quiet/callbackAfterGroupMsgReadCommand")

	failed := lines.records(t, "callback")
	byTenant := map[string]int{}
	for _, r := range failed {
		byTenant[r["tenant"].(string)]++
	}
	if byTenant["noisy"] != 1 || byTenant["quiet"] != 1 {
		t.Fatalf("failure lines per tenant %v, want 1 each within one window", byTenant)
	}
	if rej := lines.records(t, "callback rejected"); len(rej) != 1 {
		t.Fatalf("%d lines for %d callbacks to unknown tenants, want 1 within one window", len(rej), n)
	}
	if got := e.counter(t, "imhook_webhook_calls_total", "tenant", "noisy"); got != n {
		t.Errorf("metrics counted %v of noisy's %d callbacks, want every one", got, n)
	}

	mu.Lock()
	now = now.Add(logEvery)
	mu.Unlock()
	post("/hooks/noisy/callbackAfterGroupMsgReadCommand")
	failed = lines.records(t, "callback")
	last := failed[len(failed)-1]
	if last["tenant"] != "noisy" || last["suppressed"] != float64(n-1) {
		t.Fatalf("the line after the window: %v, want noisy's with suppressed=%d", last, n-1)
	}

	// At debug the operator asked for every line.
	lines.Reset()
	e.h.log = slog.New(slog.NewJSONHandler(&lines, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for range 3 {
		post("/hooks/noisy/callbackAfterGroupMsgReadCommand")
		post("/hooks/nobody/callbackAfterGroupMsgReadCommand")
	}
	if f, r := len(lines.records(t, "callback")), len(lines.records(t, "callback rejected")); f != 3 || r != 3 {
		t.Fatalf("at debug: %d failure and %d rejection lines for 3 each, want every one", f, r)
	}
}
