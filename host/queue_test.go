package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
)

// delivered is one "delivered" line the queued test guest logged.
type delivered struct {
	tenant, eventID, content string
	attempt                  int
	queued                   bool
	at                       time.Time
}

// deliveries records the queued guest's lines from the server's log.
type deliveries struct {
	slog.Handler
	mu    sync.Mutex
	lines []delivered
	added chan struct{}
}

func newDeliveries() *deliveries {
	return &deliveries{Handler: slog.DiscardHandler, added: make(chan struct{}, 1)}
}

func (d *deliveries) Enabled(context.Context, slog.Level) bool { return true }
func (d *deliveries) WithAttrs([]slog.Attr) slog.Handler       { return d }
func (d *deliveries) WithGroup(string) slog.Handler            { return d }

func (d *deliveries) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "delivered" {
		return nil
	}
	l := delivered{at: time.Now()}
	var walk func(a slog.Attr)
	walk = func(a slog.Attr) {
		switch a.Key {
		case "tenant":
			l.tenant = a.Value.String()
		case "event_id":
			l.eventID = a.Value.String()
		case "content":
			l.content = a.Value.String()
		case "attempt":
			fmt.Sscan(a.Value.String(), &l.attempt)
		case "queued":
			l.queued = a.Value.String() == "true"
		}
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(g)
			}
		}
	}
	r.Attrs(func(a slog.Attr) bool { walk(a); return true })
	d.mu.Lock()
	d.lines = append(d.lines, l)
	d.mu.Unlock()
	select {
	case d.added <- struct{}{}:
	default:
	}
	return nil
}

// wait waits until ok holds for the lines so far, up to 30 s.
func (d *deliveries) wait(t *testing.T, what string, ok func([]delivered) bool) []delivered {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		d.mu.Lock()
		lines := slices.Clone(d.lines)
		d.mu.Unlock()
		if ok(lines) {
			return lines
		}
		select {
		case <-d.added:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not after 30s; %d lines: %+v", what, len(lines), lines)
		}
	}
}

func afterBody(content string) string {
	b, _ := json.Marshal(map[string]any{
		"callbackCommand": "callbackAfterSendSingleMsgCommand", "sendID": "alice", "recvID": "bob",
		"operationID": "op-q", "contentType": 101, "sessionType": 1, "content": content,
	})
	return string(b)
}

const afterSingle = "/callbackAfterSendSingleMsgCommand"

func fastRetries(c *host.Config) {
	c.Queue.MinBackoff, c.Queue.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c.Store.Redis.PollInterval = 20 * time.Millisecond // the queue's poll
}

func of(content string) func([]delivered) []delivered {
	return func(ls []delivered) []delivered {
		var out []delivered
		for _, l := range ls {
			if l.content == content {
				out = append(out, l)
			}
		}
		return out
	}
}

// TestQueuedAfterCallbacks: an after-callback is answered with the neutral
// reply and run from the queue with an event ID and attempt; a retry comes
// back with the same ID and the next attempt; a plain error is a dead
// letter, which the admin API shows, retries and purges.
func TestQueuedAfterCallbacks(t *testing.T) {
	rec := newDeliveries()
	e := startLogging(t, func(c *host.Config) { fastRetries(c); c.Admin.Token = "operator-token-0123456789" }, slog.New(rec))
	e.tenant("acme", registry.Settings{}, "queued", "queued")

	r := e.post("/hooks/acme"+afterSingle, afterBody("ok"))
	if r.err != nil || r.status != http.StatusOK || (r.reply != reply{}) {
		t.Fatalf("queued callback: %d %v %s", r.status, r.err, r.body)
	}
	ok := rec.wait(t, "ok delivered", func(ls []delivered) bool { return len(of("ok")(ls)) == 1 })
	if l := of("ok")(ok)[0]; !l.queued || l.attempt != 1 || len(l.eventID) != 32 || l.tenant != "acme" {
		t.Fatalf("delivery %+v", l)
	}

	e.post("/hooks/acme"+afterSingle, afterBody("retry:3"))
	ls := of("retry:3")(rec.wait(t, "retry:3 three times", func(ls []delivered) bool { return len(of("retry:3")(ls)) == 3 }))
	for i, l := range ls {
		if l.attempt != i+1 || l.eventID != ls[0].eventID {
			t.Fatalf("retries %+v: want attempts 1..3 of one event", ls)
		}
	}

	e.post("/hooks/acme"+afterSingle, afterBody("fail"))
	failed := of("fail")(rec.wait(t, "fail delivered", func(ls []delivered) bool { return len(of("fail")(ls)) == 1 }))[0]
	const op = "operator-token-0123456789"
	var st struct {
		Mode   string `json:"mode"`
		Dead   int    `json:"dead"`
		Counts struct {
			Processed, Retried, DeadLettered int
		} `json:"counts"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Dead != 1 && time.Now().Before(deadline) {
		status, b := e.admin("GET", "/v1/tenants/acme/queue", op, "", nil)
		if status != 200 {
			t.Fatalf("GET queue: %d %s", status, b)
		}
		json.Unmarshal(b, &st)
		time.Sleep(20 * time.Millisecond)
	}
	if st.Mode != "queued" || st.Dead != 1 {
		t.Fatalf("queue stats %+v", st)
	}
	status, b := e.admin("GET", "/v1/tenants/acme/stats", op, "", nil)
	if status != 200 || !strings.Contains(string(b), `"queue":{"pending":0,"ready":0,"delayed":0,"in_flight":0,"dead":1,`) {
		t.Fatalf("tenant stats without the queue: %d %s", status, b)
	}
	status, b = e.admin("GET", "/metrics", op, "", nil)
	for _, want := range []string{`imhook_queue_dead_letters{tenant="acme"} 1`, `imhook_queue_retries_total{tenant="acme"} 2`,
		`imhook_queue_pending{tenant="acme"} 0`, `imhook_queue_processed_total{tenant="acme"} 2`,
		`imhook_webhook_calls_total{command="callbackAfterSendSingleMsgCommand",outcome="queued",tenant="acme"} 3`} {
		if status != 200 || !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	status, b = e.admin("GET", "/v1/tenants/acme/queue/dead", op, "", nil)
	var list struct {
		DeadLetters []struct {
			ID        string `json:"id"`
			LastError string `json:"last_error"`
			Attempts  int    `json:"attempts"`
		} `json:"dead_letters"`
	}
	json.Unmarshal(b, &list)
	if status != 200 || len(list.DeadLetters) != 1 {
		t.Fatalf("dead list: %d %s", status, b)
	}
	status, b = e.admin("GET", "/v1/tenants/acme/queue/dead/"+failed.eventID, op, "", nil)
	var one struct {
		ID        string `json:"id"`
		LastError string `json:"last_error"`
		Body      string `json:"body"`
	}
	json.Unmarshal(b, &one)
	if status != 200 || one.ID != failed.eventID || one.Body != afterBody("fail") ||
		one.LastError != "tenant[acme] plugin[queued] command[callbackAfterSendSingleMsgCommand]: guest_error: guest returned an error: plugin: handler for callbackAfterSendSingleMsgCommand failed: bad input" {
		t.Fatalf("dead letter: %d %s", status, b)
	}
	if status, b := e.admin("POST", "/v1/tenants/acme/queue/dead/"+failed.eventID+"/retry", op, "", nil); status != 200 {
		t.Fatalf("retry: %d %s", status, b)
	}
	again := of("fail")(rec.wait(t, "fail delivered again", func(ls []delivered) bool { return len(of("fail")(ls)) == 2 }))
	if again[1].eventID != failed.eventID || again[1].attempt != 1 {
		t.Fatalf("revived delivery %+v", again[1])
	}
	// It fails again: dead again; purge it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if status, _ := e.admin("DELETE", "/v1/tenants/acme/queue/dead/"+failed.eventID, op, "", nil); status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revived event never became a dead letter again")
		}
	}
	if status, b := e.admin("GET", "/v1/tenants/acme/queue/dead/"+failed.eventID, op, "", nil); status != 404 {
		t.Fatalf("purged dead letter: %d %s", status, b)
	}
}

// TestQueueAdminHostile: bad IDs, pages and other tenants' tokens.
func TestQueueAdminHostile(t *testing.T) {
	e := start(t, func(c *host.Config) { c.Admin.Token = "operator-token-0123456789" })
	const op = "operator-token-0123456789"
	e.tenant("acme", registry.Settings{}, "queued", "queued")
	e.tenant("other", registry.Settings{})
	_, b := e.admin("POST", "/v1/tenants/other/token", op, "", nil)
	var tok struct {
		Token string `json:"token"`
	}
	json.Unmarshal(b, &tok)
	for _, tc := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/tenants/acme/queue", "", 401},
		{"GET", "/v1/tenants/acme/queue", tok.Token, 403},
		{"GET", "/v1/tenants/acme/queue/dead", tok.Token, 403},
		{"POST", "/v1/tenants/acme/queue/dead/retry", tok.Token, 403},
		{"DELETE", "/v1/tenants/acme/queue/dead", tok.Token, 403},
		{"GET", "/v1/tenants/other/queue", tok.Token, 200},
		{"GET", "/v1/tenants/nobody/queue", op, 404},
		{"GET", "/v1/tenants/acme/queue/dead/../../x", op, 404},
		{"GET", "/v1/tenants/acme/queue/dead/not-an-id", op, 404},
		{"GET", "/v1/tenants/acme/queue/dead/0123456789abcdef0123456789abcdef", op, 404},
		{"POST", "/v1/tenants/acme/queue/dead/0123456789abcdef0123456789abcdef/retry", op, 404},
		{"DELETE", "/v1/tenants/acme/queue/dead/0123456789abcdef0123456789abcdef", op, 404},
		{"GET", "/v1/tenants/acme/queue/dead?limit=0", op, 400},
		{"GET", "/v1/tenants/acme/queue/dead?limit=1001", op, 400},
		{"GET", "/v1/tenants/acme/queue/dead?limit=x", op, 400},
		{"GET", "/v1/tenants/acme/queue/dead?after=zz", op, 400},
		{"GET", "/v1/tenants/acme/queue/dead?after=0123456789abcdef0123456789abcdef", op, 404},
		{"PUT", "/v1/tenants/acme/queue/dead", op, 405},
		{"POST", "/v1/tenants/acme/queue/dead/retry", op, 200},
		{"DELETE", "/v1/tenants/acme/queue/dead", op, 200},
	} {
		if status, b := e.admin(tc.method, tc.path, tc.token, "", nil); status != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, status, b, tc.want)
		}
	}
}

// TestQueueFull: past the tenant's max_depth a callback gets a 503 that
// says the queue is full; nothing is dropped silently.
func TestQueueFull(t *testing.T) {
	e := start(t, func(c *host.Config) { c.Queue.MinBackoff, c.Queue.MaxBackoff = time.Hour, time.Hour })
	e.tenant("acme", registry.Settings{Queue: registry.QueueSettings{MaxDepth: 2}}, "queued", "queued")
	for i := range 2 {
		if r := e.post("/hooks/acme"+afterSingle, afterBody("retry")); r.status != 200 {
			t.Fatalf("callback %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.post("/hooks/acme"+afterSingle, afterBody("retry"))
	if r.status != http.StatusServiceUnavailable || r.reply.Error != "tenant[acme]: after-callback queue full; the event is not kept" {
		t.Fatalf("third callback: %d %s", r.status, r.body)
	}
	st, err := e.srv.Queue().Stats(context.Background(), "acme")
	if err != nil || st.Pending != 2 || st.Counts.Refused != 1 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

// TestQueueInline: a tenant that chose inline runs after-callbacks before
// answering, outside any delivery.
func TestQueueInline(t *testing.T) {
	rec := newDeliveries()
	e := startLogging(t, nil, slog.New(rec))
	e.tenant("acme", registry.Settings{Queue: registry.QueueSettings{Inline: true}}, "queued", "queued")
	if r := e.post("/hooks/acme"+afterSingle, afterBody("inline")); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	rec.mu.Lock()
	lines := of("inline")(rec.lines)
	rec.mu.Unlock()
	if len(lines) != 1 || lines[0].queued || lines[0].eventID != "" {
		t.Fatalf("inline: the plugin ran %+v before the answer; want once, not queued", lines)
	}
}

// TestSlowTenantDoesNotDelayFast: a tenant whose plugin sleeps holds only
// its own share of the workers; another tenant's events, sent after the
// slow tenant's backlog, are all processed before that backlog is.
func TestSlowTenantDoesNotDelayFast(t *testing.T) {
	rec := newDeliveries()
	e := startLogging(t, func(c *host.Config) {
		c.Queue.Workers, c.Queue.PerTenant = 4, 2
		// A granted sleep keeps its CPU slot (only out-calls give it up),
		// so the slow tenant's two sleeping calls would take both slots of
		// a 2-core machine from the fast tenant: that is the sandbox's
		// share, not the queue's, which this test measures.
		c.Sandbox.CPUSlots = 8
	}, slog.New(rec))
	e.tenant("slow", registry.Settings{Grants: []string{"nanotime"}}, "queued", "queued")
	e.tenant("fast", registry.Settings{}, "queued", "queued")
	const n, slow = 12, 20
	for range slow {
		if r := e.post("/hooks/slow"+afterSingle, afterBody("nap:200")); r.status != 200 {
			t.Fatalf("slow: %d %s", r.status, r.body)
		}
	}
	sent := map[string]time.Time{}
	for i := range n {
		content := fmt.Sprintf("fast-%d", i)
		sent[content] = time.Now()
		if r := e.post("/hooks/fast"+afterSingle, afterBody(content)); r.status != 200 {
			t.Fatalf("fast: %d %s", r.status, r.body)
		}
	}
	ls := rec.wait(t, "every event", func(ls []delivered) bool { return len(ls) == n+slow })
	var lastFast, lastSlow time.Time
	var worst time.Duration
	for _, l := range ls {
		if l.tenant == "fast" {
			lastFast = l.at
			worst = max(worst, l.at.Sub(sent[l.content]))
		} else {
			lastSlow = l.at
		}
	}
	t.Logf("fast tenant: slowest event processed %v after it was sent; slow tenant's backlog done %v after the fast one's",
		worst, lastSlow.Sub(lastFast))
	// The slow backlog needs 20*200ms/2 = 2s at least; the fast events,
	// sent after it, must not wait for it.
	if !lastFast.Before(lastSlow) {
		t.Fatalf("the fast tenant's last event (%v) came after the slow tenant's backlog (%v)", lastFast, lastSlow)
	}
}

// TestRetryAllDeadEnds: "retry all" revives each dead letter present once
// and answers, even when the revived events fail again at once and there
// are more than one page of them (1,000). It listed the first page again
// after each page, so events dying again kept the page full and the request
// never ended.
func TestRetryAllDeadEnds(t *testing.T) {
	if testing.Short() {
		t.Skip("1,001 dead letters")
	}
	rec := newDeliveries()
	e := startLogging(t, func(c *host.Config) { fastRetries(c); c.Admin.Token = "operator-token-0123456789" }, slog.New(rec))
	e.tenant("acme", registry.Settings{}, "queued", "queued")
	const op, n = "operator-token-0123456789", 1001
	for range n {
		if r := e.post("/hooks/acme"+afterSingle, afterBody("fail")); r.err != nil || r.status != http.StatusOK {
			t.Fatalf("queued callback: %d %v", r.status, r.err)
		}
	}
	dead := func() int {
		var st struct {
			Dead int `json:"dead"`
		}
		status, b := e.admin("GET", "/v1/tenants/acme/queue", op, "", nil)
		if status != 200 || json.Unmarshal(b, &st) != nil {
			t.Fatalf("GET queue: %d %s", status, b)
		}
		return st.Dead
	}
	for deadline := time.Now().Add(time.Minute); dead() != n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters after a minute, want %d", dead(), n)
		}
	}
	status, b := e.admin("POST", "/v1/tenants/acme/queue/dead/retry", op, "", nil)
	var got struct {
		Count int `json:"count"`
	}
	if status != 200 || json.Unmarshal(b, &got) != nil || got.Count != n {
		t.Fatalf("retry all: %d %s; want 200 and a count of %d, each dead letter revived once", status, b, n)
	}
}
