package host_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

func init() { guests["ratelimit"] = struct{ pkg, ldflags string }{"examples/ratelimit", ""} }

const kvOperator = "kv-operator-token-0123456789"

// sendSingle posts one single-chat message from user to tenant and reports
// whether OpenIM would stop it.
func (e *env) sendSingle(tenant, user string) bool {
	e.t.Helper()
	body := `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"` + user + `","recvID":"user_b","contentType":101,"sessionType":1,"content":"{\"content\":\"hi\"}"}`
	r := e.post("/hooks/"+tenant+"/callbackBeforeSendSingleMsgCommand", body)
	if r.err != nil || r.status != 200 {
		e.t.Fatalf("tenant[%s]: status %d, %v, %s", tenant, r.status, r.err, r.body)
	}
	if r.reply.NextCode == 1 && r.reply.ErrCode != 20002 {
		e.t.Fatalf("stopped with %+v, want the rate limit's errCode 20002", r.reply)
	}
	return r.reply.NextCode == 1
}

// countHandler counts the log records whose message is msg.
type countHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// failures returns the plugin calls of tenant that failed on this server
// (imhook_plugin_failures_total).
func (e *env) failures(tenant string) int {
	e.t.Helper()
	mfs, err := e.srv.Metrics().Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "imhook_plugin_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenant {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int(n)
}

func rateLimited(max string) registry.Settings {
	return registry.Settings{Grants: []string{limits.GrantKV}, Config: map[string]string{"single_per_window": max, "window": "1h"}}
}

// TestRateLimitServe: the ratelimit example through a real imhook serve on
// bbolt: counters per tenant and user, tenants apart, the counter visible
// through the admin API, and a tenant without the grant refused with a
// clear error.
func TestRateLimitServe(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *host.Config) { c.Admin.Token = kvOperator })
	e.tenant("ta", rateLimited("3"), "ratelimit", "ratelimit")
	e.tenant("tb", rateLimited("3"), "ratelimit", "ratelimit")
	for i := range 3 {
		if e.sendSingle("ta", "alice") {
			t.Fatalf("message %d stopped", i+1)
		}
	}
	if !e.sendSingle("ta", "alice") || !e.sendSingle("ta", "alice") {
		t.Fatal("messages over the limit went through")
	}
	if e.sendSingle("tb", "alice") || e.sendSingle("ta", "bob") {
		t.Fatal("another tenant's or user's counter was shared")
	}
	status, body := e.admin("GET", "/v1/tenants/ta/kv/"+base64.RawURLEncoding.EncodeToString([]byte("s:alice")), kvOperator, "", nil)
	var entry struct{ Text string }
	_ = json.Unmarshal(body, &entry)
	if status != 200 || entry.Text != "5" {
		t.Fatalf("admin read of ta's counter: %d %s, want 5", status, body)
	}
	// The operator resets the counter: alice may send again.
	if status, body := e.admin("DELETE", "/v1/tenants/ta/kv/"+base64.RawURLEncoding.EncodeToString([]byte("s:alice")), kvOperator, "", nil); status != 204 {
		t.Fatalf("delete: %d %s", status, body)
	}
	if e.sendSingle("ta", "alice") {
		t.Fatal("stopped after the counter was reset")
	}

	// Over its quota the plugin lets messages through, and the refusal is
	// counted for the tenant.
	q := rateLimited("3")
	q.Limits = limits.Limits{MaxKVKeys: 1}
	e.tenant("tq", q, "ratelimit", "ratelimit")
	e.sendSingle("tq", "alice") // the only key
	if e.sendSingle("tq", "bob") || e.sendSingle("tq", "carol") {
		t.Fatal("stopped a message while over quota: the example fails open")
	}
	mfs, err := e.srv.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "imhook_kv_quota_exceeded_total" {
			for _, m := range mf.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "tq" {
					counted = m.GetCounter().GetValue()
				}
			}
		}
	}
	if counted != 2 {
		t.Fatalf("imhook_kv_quota_exceeded_total{tenant=tq} = %v, want 2", counted)
	}

	// Without the grant, the upload is refused, and says why.
	if _, _, err := e.srv.Registry().CreateTenant(context.Background(), "nogrant", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.srv.Install(context.Background(), "nogrant", "ratelimit", guestWasm(t, "ratelimit"))
	if err == nil || !strings.Contains(err.Error(), "needs grant[kv]; the operator grants it (imhook tenant update --grants)") {
		t.Fatalf("install without grant kv: %v", err)
	}
}

// TestRateLimitReplicas: two replicas on one real redis-server share the
// counters: the limit holds across them.
func TestRateLimitReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	redis := func(c *host.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.Address = srv.Addr()
		c.Admin.Token = kvOperator
	}
	// Count the example's own fail-open lines ("rate limit not applied": a
	// state error), which let a message through without a count.
	var unlimited atomic.Int64
	logger := slog.New(countHandler{msg: "rate limit not applied", n: &unlimited})
	r1 := startLogging(t, redis, logger)
	r2 := startLogging(t, redis, logger)
	r1.tenant("ta", rateLimited("4"), "ratelimit", "ratelimit")
	hash, _ := r1.srv.Registry().Tenant(context.Background(), "ta")
	r2.waitServing("ta", "ratelimit", hash.Plugins[0].Active)
	for i, r := range []*env{r1, r2, r1, r2} {
		if r.sendSingle("ta", "alice") {
			t.Fatalf("message %d stopped", i+1)
		}
	}
	if !r2.sendSingle("ta", "alice") || !r1.sendSingle("ta", "alice") {
		t.Fatal("the limit of 4 did not hold across two replicas")
	}
	// 16 callers at once, half on each replica, one user: exactly the
	// limit goes through.
	r1.tenant("tc", rateLimited("20"), "ratelimit", "ratelimit")
	hc, _ := r1.srv.Registry().Tenant(context.Background(), "tc")
	r2.waitServing("tc", "ratelimit", hc.Plugins[0].Active)
	var wg sync.WaitGroup
	var passed atomic.Int64
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := []*env{r1, r2}[c%2]
			body := `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"alice","recvID":"user_b","contentType":101,"sessionType":1,"content":"{\"content\":\"hi\"}"}`
			for range 3 {
				res := r.post("/hooks/tc/callbackBeforeSendSingleMsgCommand", body)
				if res.err != nil || res.status != 200 {
					t.Errorf("status %d, %v", res.status, res.err)
					return
				}
				if res.reply.NextCode != 1 {
					passed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// A call that fails (a busy or slow machine, -race) gets the tenant's
	// failure policy, fail-open: its message goes through without the
	// plugin's say. The plugin itself lets exactly 20 through, or fewer by
	// the failed calls that had taken a count.
	failed := r1.failures("tc") + r2.failures("tc") + int(unlimited.Load())
	if admitted := passed.Load() - int64(failed); admitted > 20 || admitted < 20-int64(failed) {
		t.Fatalf("%d of 48 concurrent messages went through two replicas, %d of them failed open: the plugin admitted %d, want 20", passed.Load(), failed, admitted)
	}

	// Deleting the tenant deletes its counters in Redis.
	if status, body := r1.admin("DELETE", "/v1/tenants/ta", kvOperator, "", nil); status != 200 {
		t.Fatalf("delete tenant: %d %s", status, body)
	}
	keys, err := srv.Do("KEYS", "*kv:{ta}*")
	if err != nil || strings.Contains(keys, "{ta}") {
		t.Fatalf("keys of the deleted tenant left in Redis: %q %v", keys, err)
	}
}

// TestReadForwardReplicas runs examples/readforward on two replicas sharing
// one redis-server: read receipts sent to either replica are forwarded to
// the tenant's service (a loopback sink) and counted in the same keys, so
// the counters add up across replicas.
func TestReadForwardReplicas(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	var forwarded atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	replica := func(c *host.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.Address = srv.Addr()
		c.Admin.Token = kvOperator
		c.Egress.AllowNetworks = []string{"127.0.0.0/8"} // the sink is on loopback
	}
	r1, r2 := start(t, replica), start(t, replica)
	r1.tenant("rf", registry.Settings{Grants: []string{limits.GrantHTTP, limits.GrantKV}, EgressAllow: []string{sink.URL},
		Config: map[string]string{"service_url": sink.URL + "/read"}}, "readforward", "readforward")
	tn, _ := r1.srv.Registry().Tenant(context.Background(), "rf")
	r2.waitServing("rf", "readforward", tn.Plugins[0].Active)

	read := func(r *env, reader string) {
		t.Helper()
		body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"` + reader + `","receiveID":"` + reader + `","unreadMsgNum":42,"contentType":3}`
		if res := r.post("/hooks/rf/callbackAfterGroupMsgReadCommand", body); res.err != nil || res.status != 200 {
			t.Fatalf("read receipt: %d %v", res.status, res.err)
		}
	}
	// alice reads on both replicas, bob on r2 only.
	for i := range 6 {
		read([]*env{r1, r2}[i%2], "alice")
	}
	read(r2, "bob")
	counter := func(r *env, key string) string {
		status, body := r.admin("GET", "/v1/tenants/rf/kv/"+base64.RawURLEncoding.EncodeToString([]byte(key)), kvOperator, "", nil)
		var entry struct{ Text string }
		if status != 200 || json.Unmarshal(body, &entry) != nil {
			return fmt.Sprintf("%d %s", status, body)
		}
		return entry.Text
	}
	want := map[string]string{"reads:alice": "6", "reads:bob": "1", "reads": "7"}
	deadline := time.Now().Add(60 * time.Second) // the queue runs them; a backstop
	for {
		done := true
		for key, v := range want {
			for _, r := range []*env{r1, r2} {
				if counter(r, key) != v {
					done = false
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			for key, v := range want {
				t.Errorf("%s: r1 reads %s, r2 reads %s; want %s on both (one key in Redis)", key, counter(r1, key), counter(r2, key), v)
			}
			t.Fatalf("%d receipts forwarded", forwarded.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := forwarded.Load(); n < 7 {
		t.Errorf("the service got %d receipts, want at least 7", n)
	}
	// Both replicas ran deliveries: the counts came from both.
	if r1.failures("rf")+r2.failures("rf") != 0 {
		t.Errorf("plugin failures: %d on r1, %d on r2", r1.failures("rf"), r2.failures("rf"))
	}
}
