package host_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/registry"
)

// TestOutCallsThroughServer runs examples/readforward in a real server: a
// group read receipt reaches the tenant's service (a loopback sink) with the
// tenant's secret in its Authorization header, the out-call shows in the
// metrics, and the secret is in no admin answer and no log line. A tenant
// without the http grant cannot even upload the plugin.
func TestOutCallsThroughServer(t *testing.T) {
	const (
		op     = "operator-token-0123456789"
		secret = "svc-tok-8c1f77a2e9d4"
	)
	var mu sync.Mutex
	var auths []string
	var events []map[string]any
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &ev)
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		events = append(events, ev)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()

	var logs syncbuf.Buffer
	e := startLogging(t, func(c *host.Config) {
		c.Admin.Token = op
		c.Egress.AllowNetworks = []string{"127.0.0.0/8"} // the sink is on loopback
	}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e.tenant("acme", registry.Settings{
		Grants:      []string{"http", "kv"},
		EgressAllow: []string{sink.URL},
		Config:      map[string]string{"service_url": sink.URL + "/read", "token_secret": "svc"},
	})
	var answers []string
	adm := func(method, path string, body string) int {
		t.Helper()
		ct := ""
		if body != "" {
			ct = "application/json"
		}
		status, b := e.admin(method, path, op, ct, []byte(body))
		answers = append(answers, string(b))
		return status
	}
	if s := adm("PUT", "/v1/tenants/acme/secrets/svc", `{"value":"`+secret+`"}`); s != 200 {
		t.Fatalf("set secret: %d %s", s, answers[len(answers)-1])
	}
	if s := adm("PUT", "/v1/tenants/acme/secrets/svc", `{"value":"`+secret+`",}`); s != 400 {
		t.Fatalf("bad JSON: %d", s)
	}
	if s := adm("GET", "/v1/tenants/acme/secrets", ""); s != 200 || !strings.Contains(answers[len(answers)-1], `"names":["svc"]`) {
		t.Fatalf("list: %d %s", s, answers[len(answers)-1])
	}
	adm("GET", "/v1/tenants/acme", "")
	adm("GET", "/v1/tenants/acme/settings", "")
	adm("GET", "/v1/tenants", "")
	e.install("acme", "readforward", "readforward")

	body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}`
	if r := e.post("/hooks/acme/callbackAfterGroupMsgReadCommand", body); r.err != nil || r.status != 200 {
		t.Fatalf("callback: %d %s %v", r.status, r.body, r.err)
	}
	// An after-callback is answered once it is queued; the plugin runs,
	// and calls the service, from the queue.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(auths)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	if len(auths) != 1 || auths[0] != "Bearer "+secret || events[0]["reader"] != "user_b" || events[0]["has_read_seq"] != float64(42) {
		t.Fatalf("the service got %v with %q", events, auths)
	}
	mu.Unlock()

	// The out-call is in the metrics, by tenant and allowed pattern.
	_, metrics := e.admin("GET", "/metrics", op, "", nil)
	want := `imhook_out_calls_total{destination="` + sink.URL + `",outcome="ok",tenant="acme"} 1`
	if !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}

	// A tenant without the grant cannot upload a plugin that makes out-calls.
	e.tenant("beta", registry.Settings{Grants: []string{"kv"}})
	_, err := e.srv.Install(context.Background(), "beta", "readforward", guestWasm(t, "readforward"))
	if err == nil || !strings.Contains(err.Error(), "grant[http]") {
		t.Errorf("upload without the grant: %v", err)
	}
	// A tenant's own token cannot widen its egress_allow: the operator grants it.
	_, tok, err := e.srv.Registry().CreateTenant(context.Background(), "gamma", registry.Settings{Grants: []string{"http"}})
	if err != nil {
		t.Fatal(err)
	}
	status, b := e.admin("PATCH", "/v1/tenants/gamma", "gamma."+tok, "application/merge-patch+json", []byte(`{"settings":{"egress_allow":["https://evil.example"]}}`))
	if status != 403 || !strings.Contains(string(b), "egress_allow") {
		t.Errorf("tenant token widening egress_allow: %d %s", status, b)
	}

	// Delete it, then the secret is gone from the list.
	if s := adm("DELETE", "/v1/tenants/acme/secrets/svc", ""); s != 204 {
		t.Fatalf("delete: %d", s)
	}
	if s := adm("DELETE", "/v1/tenants/acme/secrets/svc", ""); s != 404 {
		t.Fatalf("delete again: %d", s)
	}
	all := strings.Join(answers, "\n") + logs.String()
	if strings.Contains(all, secret) {
		t.Fatalf("the secret reached an admin answer or a log line:\n%s", all)
	}
}
