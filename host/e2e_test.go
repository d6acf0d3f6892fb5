package host_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/host/webhook"
	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

// catalogExample is one command of the OpenIM catalog with its example body.
type catalogExample struct {
	Command string          `json:"command"`
	Phase   string          `json:"phase"`
	Example json.RawMessage `json:"example"`
}

// loadCatalog reads the catalog the SDK is generated from.
func loadCatalog(t *testing.T) []catalogExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sdk", "openim", "internal", "gen", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat []catalogExample
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	if len(cat) != 52 {
		t.Fatalf("catalog has %d commands, want 52", len(cat))
	}
	// Compact the examples the way OpenIM's encoder sends them.
	for i := range cat {
		var buf bytes.Buffer
		if err := json.Compact(&buf, cat[i].Example); err != nil {
			t.Fatal(err)
		}
		cat[i].Example = buf.Bytes()
	}
	return cat
}

// TestEveryCommand sends the catalog's example of every command to three
// tenants: one whose plugin handles every command (each call enters the
// sandbox), one running the four example plugins (some calls do, the rest
// get the neutral reply without a sandbox), and one with no plugin at all.
// Every reply must decode as OpenIM decodes it.
func TestEveryCommand(t *testing.T) {
	e := start(t, nil)
	e.tenant("every", registry.Settings{}, "every", "every")
	e.tenant("examples", registry.Settings{}, "moderation", "moderation", "policy", "policy", "readsync", "readsync", "trivial", "trivial")
	e.tenant("empty", registry.Settings{})
	for _, c := range loadCatalog(t) {
		t.Run(c.Command, func(t *testing.T) {
			for _, tenant := range []string{"every", "examples", "empty"} {
				r := e.post("/hooks/"+tenant+"/"+c.Command, string(c.Example), "operationID", "op-"+c.Command)
				if r.err != nil || r.status != http.StatusOK {
					t.Fatalf("tenant[%s]: status %d err %v body %s", tenant, r.status, r.err, r.body)
				}
				if !bytes.HasSuffix(r.body, []byte("}\n")) {
					t.Errorf("tenant[%s]: body %q does not end like OpenIM's encoder output", tenant, r.body)
				}
				if tenant == "every" && c.Phase == "before" && r.reply.ActionCode != 1 {
					t.Errorf("tenant[every]: reply %s did not come from the plugin", r.body)
				}
				if tenant == "empty" && (r.reply != reply{}) {
					t.Errorf("tenant[empty]: reply %s is not neutral", r.body)
				}
			}
		})
	}
}

// TestURLForms sends one callback in every URL form OpenIM versions and
// docs produce.
func TestURLForms(t *testing.T) {
	e := start(t, nil)
	e.tenant("acme", registry.Settings{Config: map[string]string{"banned_words": "spam"}}, "moderation", "moderation", "readsync", "readsync")
	blocked := msgBody("buy spam")
	groupRead := `{"callbackCommand":"callbackGroupMsgReadCommand","sendID":"u1","receiveID":"u1","unreadMsgNum":3,"contentType":3}`
	tests := []struct {
		name, path, body string
		wantNext         int32
	}{
		{"path", "/hooks/acme" + sendSingle, blocked, 1},
		{"trailing slash", "/hooks/acme" + sendSingle + "/", blocked, 1},
		{"double slash from a url ending in /", "/hooks/acme/" + sendSingle, blocked, 1},
		{"contenttype query from the docs", "/hooks/acme" + sendSingle + "?contenttype=json", blocked, 1},
		{"pre-v3.4.2 command query", "/hooks/acme?command=callbackBeforeSendSingleMsgCommand", blocked, 1},
		{"pre-v3.4.2 command query with slash", "/hooks/acme/?command=callbackBeforeSendSingleMsgCommand", blocked, 1},
		{"after-send key query", "/hooks/acme/callbackAfterSendSingleMsgCommand?key=eyJzZW5kSUQiOiJhIn0%3D",
			strings.Replace(msgBody("hi"), "Before", "After", 1), 0},
		{"legacy group read name", "/hooks/acme/callbackGroupMsgReadCommand", groupRead, 0},
		{"legacy name in the body only", "/hooks/acme/callbackAfterGroupMsgReadCommand", groupRead, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(tt.path, tt.body, "operationID", "op-url")
			if r.err != nil || r.status != http.StatusOK {
				t.Fatalf("status %d err %v body %s", r.status, r.err, r.body)
			}
			if r.reply.NextCode != tt.wantNext {
				t.Errorf("reply %s: nextCode %d, want %d", r.body, r.reply.NextCode, tt.wantNext)
			}
		})
	}
}

// TestIsolation checks that a callback for one tenant runs only that
// tenant's plugins and configuration.
func TestIsolation(t *testing.T) {
	e := start(t, nil)
	e.tenant("a", registry.Settings{Config: map[string]string{"banned_words": "apple", "err_code": "30001"}}, "moderation", "moderation")
	e.tenant("b", registry.Settings{Config: map[string]string{"banned_words": "banana", "err_code": "30002"}}, "moderation", "moderation")
	e.tenant("c", registry.Settings{})
	tests := []struct {
		tenant, text string
		wantCode     int32
	}{
		{"a", "an apple", 30001},
		{"a", "a banana", 0},
		{"b", "a banana", 30002},
		{"b", "an apple", 0},
		{"c", "an apple and a banana", 0},
	}
	for _, tt := range tests {
		r := e.post("/hooks/"+tt.tenant+sendSingle, msgBody(tt.text))
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("tenant[%s]: status %d err %v", tt.tenant, r.status, r.err)
		}
		if r.reply.ErrCode != tt.wantCode {
			t.Errorf("tenant[%s] %q: reply %s, want errCode %d", tt.tenant, tt.text, r.body, tt.wantCode)
		}
	}
}

// TestChain runs two plugins on one before-command: the first stop wins and
// a fail-open failure is skipped.
func TestChain(t *testing.T) {
	e := start(t, nil)
	e.tenant("chain", registry.Settings{Config: map[string]string{"banned_words": "spam"}},
		"every", "every", "mod", "moderation")
	r := e.post("/hooks/chain"+sendSingle, msgBody("clean"))
	if r.err != nil || r.reply.ActionCode != 1 || r.reply.NextCode != 0 {
		t.Errorf("clean message: %s %v, want the every plugin's continue reply", r.body, r.err)
	}
	r = e.post("/hooks/chain"+sendSingle, msgBody("spam"))
	if r.err != nil || r.reply.NextCode != 1 || r.reply.ActionCode != 0 {
		t.Errorf("banned message: %s %v, want the moderation stop", r.body, r.err)
	}
	// every fails on "fail-me"; fail-open skips it and moderation still runs.
	r = e.post("/hooks/chain"+sendSingle, msgBody("fail-me spam"))
	if r.err != nil || r.reply.NextCode != 1 {
		t.Errorf("failing first plugin: %s %v, want moderation's stop", r.body, r.err)
	}
}

// TestChainCarriesModifications runs three plugins that each rewrite the
// message of callbackBeforeMsgModifyCommand: every plugin must see the
// message as the plugins before it left it, and the reply must carry the
// result of all of them.
func TestChainCarriesModifications(t *testing.T) {
	e := start(t, nil)
	e.tenant("carry", registry.Settings{Config: map[string]string{"banned_words": "spam", "mode": "rewrite"}},
		"first", "appender", "second", "appender", "mod", "moderation")
	body := strings.Replace(strings.Replace(msgBody("buy spam"), "BeforeSendSingleMsg", "BeforeMsgModify", 1), `"recvID":"bob",`, "", 1)
	r := e.post("/hooks/carry/callbackBeforeMsgModifyCommand", body)
	if r.err != nil || r.status != http.StatusOK || r.reply.NextCode != 0 {
		t.Fatalf("reply %s (%d, %v), want a continue reply", r.body, r.status, r.err)
	}
	var got struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Content == nil {
		t.Fatalf("reply %s has no content (%v)", r.body, err)
	}
	var text struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal([]byte(*got.Content), &text); err != nil {
		t.Fatalf("content %q is not a text message: %v", *got.Content, err)
	}
	// Both appenders ran on the text before them, and moderation masked the
	// banned word in the text the appenders produced.
	if want := "buy ****!!"; text.Content != want {
		t.Fatalf("chained text = %q, want %q", text.Content, want)
	}
}

// TestFailurePolicy checks the reply of a failing plugin under fail-open and
// fail-closed.
func TestFailurePolicy(t *testing.T) {
	e := start(t, nil)
	e.tenant("open", registry.Settings{}, "every", "every")
	e.tenant("closed", registry.Settings{Failure: registry.Policy{Closed: true, ErrCode: 777, ErrMsg: "try later"}}, "every", "every")
	r := e.post("/hooks/open"+sendSingle, msgBody("fail-me"))
	if r.err != nil || r.status != http.StatusOK || (r.reply != reply{}) {
		t.Errorf("fail-open: %d %s %v, want the neutral reply", r.status, r.body, r.err)
	}
	r = e.post("/hooks/closed"+sendSingle, msgBody("fail-me"))
	want := reply{ErrCode: 777, ErrMsg: "try later", ErrDlt: "imhook: guest_error", NextCode: 1}
	if r.err != nil || r.status != http.StatusOK || r.reply != want {
		t.Errorf("fail-closed: %d %s %v, want %+v", r.status, r.body, r.err, want)
	}
}

// TestBadInputs checks that every protocol error gets its status and a JSON
// body that is also an OpenIM stop reply naming the problem.
func TestBadInputs(t *testing.T) {
	e := start(t, func(c *host.Config) { c.Server.MaxBodyBytes = 4096 })
	sum := sha256.Sum256([]byte("s3cret-pw"))
	pwHash := hex.EncodeToString(sum[:])
	e.tenant("acme", registry.Settings{}, "moderation", "moderation")
	e.tenant("basic", registry.Settings{Auth: registry.Auth{BasicUser: "openim", BasicPasswordHash: pwHash}})
	e.tenant("netblock", registry.Settings{Auth: registry.Auth{Networks: []string{"10.0.0.0/8"}}})
	e.tenant("netok", registry.Settings{Auth: registry.Auth{Networks: []string{"127.0.0.0/8"}}})
	good := msgBody("hello")
	tests := []struct {
		name, method, path, body string
		header                   []string
		user, pass               string
		status                   int
		code                     int32
		errHas                   string
	}{
		{name: "malformed json", path: "/hooks/acme" + sendSingle, body: `{"callbackCommand":`, status: 400, code: webhook.CodeBadRequest, errHas: "malformed"},
		{name: "docs trailing comma", path: "/hooks/acme" + sendSingle, body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand",}`, status: 400, code: webhook.CodeBadRequest},
		{name: "wrong type", path: "/hooks/acme" + sendSingle, body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","seq":"1"}`, status: 400, code: webhook.CodeBadRequest},
		{name: "command mismatch", path: "/hooks/acme/callbackBeforeSendGroupMsgCommand", body: good, status: 400, code: webhook.CodeBadRequest},
		{name: "unknown tenant", path: "/hooks/nobody" + sendSingle, body: good, status: 404, code: webhook.CodeNotFound, errHas: "unknown tenant[nobody]"},
		{name: "unknown command", path: "/hooks/acme/callbackNopeCommand", body: good, status: 404, code: webhook.CodeNotFound, errHas: "unknown command"},
		{name: "no command", path: "/hooks/acme", body: good, status: 404, code: webhook.CodeNotFound},
		{name: "other path", path: "/callbackBeforeSendSingleMsgCommand", body: good, status: 404, code: webhook.CodeNotFound},
		{name: "oversized", path: "/hooks/acme" + sendSingle, body: strings.Repeat(" ", 5000) + good, status: 413, code: webhook.CodeTooLarge},
		{name: "get", method: http.MethodGet, path: "/hooks/acme" + sendSingle, status: 405, code: webhook.CodeMethodNotAllowed},
		{name: "basic missing", path: "/hooks/basic" + sendSingle, body: good, status: 401, code: webhook.CodeUnauthorized},
		{name: "basic wrong password", path: "/hooks/basic" + sendSingle, body: good, user: "openim", pass: "s3cret-pX", status: 401, code: webhook.CodeUnauthorized},
		{name: "basic wrong user", path: "/hooks/basic" + sendSingle, body: good, user: "other", pass: "s3cret-pw", status: 401, code: webhook.CodeUnauthorized},
		{name: "basic right", path: "/hooks/basic" + sendSingle, body: good, user: "openim", pass: "s3cret-pw", status: 200},
		{name: "network refused", path: "/hooks/netblock" + sendSingle, body: good, status: 403, code: webhook.CodeForbidden},
		{name: "network allowed", path: "/hooks/netok" + sendSingle, body: good, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, e.base+tt.path, strings.NewReader(tt.body))
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			r := do(req)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				if r.reply.NextCode != 0 {
					t.Errorf("reply %s: want a continue", r.body)
				}
				return
			}
			if r.reply.ErrCode != tt.code || r.reply.NextCode != 1 || r.reply.ActionCode != 0 || r.reply.Error == "" {
				t.Errorf("body %s: want a stop reply with errCode %d and an error", r.body, tt.code)
			}
			if !strings.Contains(r.reply.Error, tt.errHas) {
				t.Errorf("error %q does not mention %q", r.reply.Error, tt.errHas)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if bytes.Contains(r.body, []byte("s3cret")) {
				t.Errorf("body %s leaks the password", r.body)
			}
		})
	}
}

// TestSwapUnderLoad swaps a plugin's active version back and forth while
// clients hammer it: no callback may fail or get a policy reply.
func TestSwapUnderLoad(t *testing.T) {
	e := start(t, nil)
	e.tenant("swap", registry.Settings{}, "p", "slow1")
	h1 := e.install("swap", "p", "slow1")
	h2 := e.install("swap", "p", "slow2")

	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		calls    atomic.Int64
		failures atomic.Int64
		seen     sync.Map
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r := e.post("/hooks/swap"+sendSingle, msgBody("hi"))
				calls.Add(1)
				if r.err != nil || r.status != 200 || !strings.HasPrefix(r.reply.ErrMsg, "slow v") {
					failures.Add(1)
					t.Errorf("callback during swap: %d %s %v", r.status, r.body, r.err)
					return
				}
				seen.Store(r.reply.ErrMsg, true)
			}
		}()
	}
	for i := range 4 {
		h := h1
		if i%2 == 1 {
			h = h2
		}
		if _, err := e.srv.Registry().Activate(t.Context(), "swap", "p", h, registry.AnyRevision); err != nil {
			t.Fatal(err)
		}
		e.waitServing("swap", "p", h)
		time.Sleep(50 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() > 0 || calls.Load() == 0 {
		t.Fatalf("%d of %d callbacks failed", failures.Load(), calls.Load())
	}
	for _, v := range []string{"slow v1", "slow v2"} {
		if _, ok := seen.Load(v); !ok {
			t.Errorf("no callback was answered by %q", v)
		}
	}
	families, err := e.srv.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "imhook_plugin_failures_total" {
			t.Errorf("plugin failures during the swap: %v", f)
		}
	}
	t.Logf("%d callbacks across 4 swaps", calls.Load())
}

// TestOverload fills server.max_concurrent with slow callbacks: the next one
// gets the failure policy reply at once instead of waiting.
func TestOverload(t *testing.T) {
	e := start(t, func(c *host.Config) {
		c.Server.MaxConcurrent = 1
		c.Server.CallTimeout, c.Sandbox.Limits.CallTimeout = 5*time.Second, 4*time.Second
	})
	e.tenant("busy", registry.Settings{
		Grants:  []string{limits.GrantNanotime},
		Failure: registry.Policy{Closed: true, ErrCode: 503, ErrMsg: "busy"},
	}, "slow", "slow1")
	slow := make(chan result, 1)
	go func() { slow <- e.post("/hooks/busy"+sendSingle, msgBody("nap:2500")) }()
	// Wait until the slow callback holds the only slot.
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Directory().InFlight() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("slow callback never started")
		}
		time.Sleep(time.Millisecond)
	}
	r := e.post("/hooks/busy"+sendSingle, msgBody("quick"))
	if r.err != nil || r.status != 200 || r.reply.ErrCode != 503 || r.reply.NextCode != 1 || r.reply.ErrDlt != "imhook: instances" {
		t.Errorf("overloaded callback: %d %s %v, want the fail-closed policy reply", r.status, r.body, r.err)
	}
	// It was answered while the slot was still taken, not after waiting.
	if len(slow) != 0 {
		t.Error("the overloaded callback was answered only after the slow one finished")
	}
	if s := <-slow; s.err != nil || s.reply.ErrMsg != "slow v1" {
		t.Errorf("slow callback: %s %v", s.body, s.err)
	}
}

// TestGracefulShutdown stops the server while a callback runs: the callback
// still gets its plugin's reply.
func TestGracefulShutdown(t *testing.T) {
	e := start(t, nil)
	e.tenant("slow", registry.Settings{Grants: []string{limits.GrantNanotime}}, "slow", "slow1")
	slow := make(chan result, 1)
	go func() { slow <- e.post("/hooks/slow"+sendSingle, msgBody("nap:600")) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.srv.Directory().InFlight() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("slow callback never started")
		}
		time.Sleep(time.Millisecond)
	}
	e.stop()
	if err := <-e.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	e.done <- nil // for the cleanup
	r := <-slow
	if r.err != nil || r.status != 200 || r.reply.ErrMsg != "slow v1" {
		t.Errorf("in-flight callback: %d %s %v, want the plugin's reply", r.status, r.body, r.err)
	}
	if _, err := http.Post(e.base+"/hooks/slow"+sendSingle, "application/json", strings.NewReader(msgBody("x"))); err == nil {
		t.Error("server still accepts callbacks after shutdown")
	}
}

// TestProbesAndMetrics checks /healthz, /readyz and /metrics.
func TestProbesAndMetrics(t *testing.T) {
	e := start(t, nil)
	e.tenant("m", registry.Settings{}, "moderation", "moderation")
	e.post("/hooks/m"+sendSingle, msgBody("hi"))
	admin := "http://" + e.srv.AdminAddr().String()
	for _, u := range []string{e.base + "/healthz", e.base + "/readyz", admin + "/healthz", admin + "/readyz"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", u, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	for _, want := range []string{
		`imhook_webhook_calls_total{command="callbackBeforeSendSingleMsgCommand",outcome="ok",tenant="m"} 1`,
		`imhook_webhook_duration_seconds_count{command="callbackBeforeSendSingleMsgCommand",tenant="m"} 1`,
		`imhook_plugins_loaded 1`,
		`imhook_pool_instances{plugin="moderation",tenant="m"}`,
		`imhook_compile_seconds_count`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if resp, err := http.Get(e.base + "/metrics"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("/metrics is served on the webhook listener")
		}
		resp.Body.Close()
	}
}

// TestActivateAnswersOnceServing switches versions through the admin API
// and sends a callback as soon as each answer arrives: it must run the
// version just made active, and the answer says that version serves.
func TestActivateAnswersOnceServing(t *testing.T) {
	const operator = "operator-token-0123456789"
	e := start(t, func(c *host.Config) { c.Admin.Token = operator })
	e.tenant("act", registry.Settings{}, "p", "slow1")
	h1 := e.install("act", "p", "slow1")
	status, body := e.admin("POST", "/v1/tenants/act/plugins/p/versions", operator, "application/wasm", guestWasm(t, "slow2"))
	var up struct{ Version struct{ Hash string } }
	if status != 201 || json.Unmarshal(body, &up) != nil {
		t.Fatalf("upload: %d %s", status, body)
	}
	h2 := up.Version.Hash
	for i := range 3 {
		for _, step := range []struct{ path, want, hash string }{
			{"/versions/" + h2 + "/activate", "slow v2", h2},
			{"/rollback", "slow v1", h1},
		} {
			status, body := e.admin("POST", "/v1/tenants/act/plugins/p"+step.path, operator, "", nil)
			var got struct {
				Active  string
				Serving struct{ Version string }
			}
			if status != 200 || json.Unmarshal(body, &got) != nil || got.Active != step.hash || got.Serving.Version != step.hash {
				t.Fatalf("round %d: POST %s: %d %s, want version %s active and serving", i, step.path, status, body, step.hash[:12])
			}
			if r := e.post("/hooks/act"+sendSingle, msgBody("hi")); r.reply.ErrMsg != step.want {
				t.Fatalf("round %d: the callback right after POST %s was answered by %q, want %q", i, step.path, r.reply.ErrMsg, step.want)
			}
		}
	}
}

// TestMetricsToken protects /metrics with admin.metrics_token: Prometheus
// sends it as a bearer token; the operator token works too; nothing else does.
func TestMetricsToken(t *testing.T) {
	const operator, scraper = "operator-token-0123456789", "metrics-token-0123456789"
	e := start(t, func(c *host.Config) { c.Admin.Token, c.Admin.MetricsToken = operator, scraper })
	url := "http://" + e.srv.AdminAddr().String() + "/metrics"
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {"wrong-token-0123456789", 401}, {"m." + scraper, 401}, {scraper, 200}, {operator, 200}} {
		req, _ := http.NewRequest("GET", url, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		r := do(req)
		if r.status != tc.status {
			t.Errorf("token %q: status %d, want %d; body %s", tc.token, r.status, tc.status, r.body)
		}
		if tc.status == 200 && !bytes.Contains(r.body, []byte("imhook_plugins_loaded")) {
			t.Errorf("token %q: no metrics in %s", tc.token, r.body)
		}
		if tc.status == 401 && (r.header.Get("WWW-Authenticate") == "" || !bytes.Contains(r.body, []byte("admin.metrics_token"))) {
			t.Errorf("token %q: 401 without a challenge or a hint: %v %s", tc.token, r.header, r.body)
		}
	}
}

// TestAdminIsolation uses the admin API served by the Server: a tenant's
// token reads and changes its own tenant only, and a plugin uploaded and
// activated through the API serves that tenant's callbacks only.
func TestAdminIsolation(t *testing.T) {
	const operator = "operator-token-0123456789"
	e := start(t, func(c *host.Config) { c.Admin.Token = operator })
	call := e.admin
	tokens := map[string]string{}
	for _, id := range []string{"a", "b"} {
		status, body := call("POST", "/v1/tenants", operator, "application/json",
			[]byte(`{"id":"`+id+`","settings":{"config":{"banned_words":"spam"}}}`))
		var created struct{ Token string }
		if status != 201 && status != 200 || json.Unmarshal(body, &created) != nil || created.Token == "" {
			t.Fatalf("create tenant[%s]: %d %s", id, status, body)
		}
		tokens[id] = created.Token
	}
	status, body := call("POST", "/v1/tenants/a/plugins/mod/versions?activate=true", tokens["a"], "application/wasm", guestWasm(t, "moderation"))
	if status/100 != 2 {
		t.Fatalf("upload: %d %s", status, body)
	}
	for _, tt := range []struct {
		method, path string
		body         []byte
	}{
		{"GET", "/v1/tenants/b", nil},
		{"GET", "/v1/tenants/b/plugins", nil},
		{"PUT", "/v1/tenants/b/settings", []byte(`{}`)},
		{"POST", "/v1/tenants/b/plugins/mod/versions?activate=true", guestWasm(t, "moderation")},
		{"GET", "/v1/tenants", nil},
	} {
		ct := "application/json"
		if strings.HasSuffix(tt.path, "activate=true") {
			ct = "application/wasm"
		}
		if status, body := call(tt.method, tt.path, tokens["a"], ct, tt.body); status/100 == 2 {
			t.Errorf("tenant a's token: %s %s = %d %s, want refused", tt.method, tt.path, status, body)
		}
	}
	if status, body := call("GET", "/v1/tenants/a", tokens["a"], "", nil); status != 200 {
		t.Errorf("tenant a reading itself: %d %s", status, body)
	}
	// a's plugin serves a's callbacks, never b's.
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.post("/hooks/a"+sendSingle, msgBody("spam"))
		if r.reply.NextCode == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant a's uploaded plugin never served: %s %v", r.body, r.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.post("/hooks/b"+sendSingle, msgBody("spam")); r.err != nil || r.reply.NextCode != 0 {
		t.Errorf("tenant b: %s %v, want the neutral reply (it has no plugin)", r.body, r.err)
	}
}

// TestLogLines checks that the log lines about a callback, the plugin's own
// included, carry OpenIM's operationID, and that no secret is logged.
func TestLogLines(t *testing.T) {
	var logs syncbuf.Buffer
	e := startLogging(t, nil, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	sum := sha256.Sum256([]byte("s3cret-pw"))
	e.tenant("acme", registry.Settings{
		Config: map[string]string{"banned_words": "spam"},
		Auth:   registry.Auth{BasicUser: "openim", BasicPasswordHash: hex.EncodeToString(sum[:])},
	}, "moderation", "moderation")
	req, _ := http.NewRequest("POST", e.base+"/hooks/acme"+sendSingle, strings.NewReader(msgBody("spam")))
	req.Header.Set("operationID", "op-blocked-7")
	req.SetBasicAuth("openim", "s3cret-pw")
	if r := do(req); r.err != nil || r.reply.NextCode != 1 {
		t.Fatalf("blocked callback: %s %v", r.body, r.err)
	}
	req, _ = http.NewRequest("POST", e.base+"/hooks/acme"+sendSingle, strings.NewReader(msgBody("hi")))
	req.Header.Set("operationID", "op-denied-8")
	req.SetBasicAuth("openim", "wrong-s3cret")
	if r := do(req); r.status != 401 {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	var plugin, callback, denied bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		switch {
		case l["plugin"] == "moderation" && l["msg"] != "callback" && l["operation_id"] == "op-blocked-7":
			// The SDK's key-value pairs stay attributes, apart from the message.
			attrs, _ := l["attrs"].(map[string]any)
			plugin = l["msg"] == "message blocked" && attrs["send_id"] == "alice" && attrs["recv_id"] == "bob"
		case l["msg"] == "callback" && l["operation_id"] == "op-blocked-7" && l["outcome"] == "stopped":
			callback = true
		case l["msg"] == "callback rejected" && l["operation_id"] == "op-denied-8":
			denied = true
		}
	}
	if !plugin || !callback || !denied {
		t.Errorf("plugin line %v, callback line %v, rejection line %v; logs:\n%s", plugin, callback, denied, logs.String())
	}
	if strings.Contains(logs.String(), "s3cret") || strings.Contains(logs.String(), "b3Blbmlt") {
		t.Errorf("a credential reached the log:\n%s", logs.String())
	}
}

// TestTenantChanges follows settings changes, a command filter and a tenant
// deletion through the registry's change feed.
func TestTenantChanges(t *testing.T) {
	e := start(t, nil)
	e.tenant("live", registry.Settings{Config: map[string]string{"banned_words": "spam"}}, "moderation", "moderation")
	eventually := func(what string, ok func(r result) bool, path, body string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := e.post(path, body)
			if ok(r) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %d %s %v", what, r.status, r.body, r.err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopped := func(r result) bool { return r.err == nil && r.reply.NextCode == 1 }
	passed := func(r result) bool { return r.err == nil && r.status == 200 && r.reply.NextCode == 0 }
	path := "/hooks/live" + sendSingle
	eventually("banned word", stopped, path, msgBody("spam"))

	cur, err := e.srv.Registry().Tenant(t.Context(), "live")
	if err != nil {
		t.Fatal(err)
	}
	s := cur.Settings
	s.Config = map[string]string{"banned_words": "eggs"}
	if _, err := e.srv.Registry().SetSettings(t.Context(), "live", s, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	eventually("new config value", stopped, path, msgBody("green eggs"))
	eventually("old config value gone", passed, path, msgBody("spam"))

	s.Limits.MemoryPages = 300 // makes the directory load the plugin again
	s.Commands = []string{"callbackBeforeSendGroupMsgCommand"}
	if _, err := e.srv.Registry().SetSettings(t.Context(), "live", s, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	eventually("command disabled", passed, path, msgBody("green eggs"))
	if st, _ := e.srv.Directory().Stats("live"); len(st.Plugins) != 1 || st.Plugins[0].Serving == "" {
		t.Errorf("after the limits change: %+v", st)
	}

	if err := e.srv.Registry().DeleteTenant(t.Context(), "live", registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	eventually("tenant deleted", func(r result) bool { return r.status == 404 }, path, msgBody("x"))
}

// TestShutdownWithoutRun closes a server that never ran: it must not hang
// and must free its ports and its store.
func TestShutdownWithoutRun(t *testing.T) {
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = cacheDir
	cfg.Server.Addr, cfg.Admin.Addr = "127.0.0.1:0", "127.0.0.1:0"
	for range 2 { // the second New proves the store's lock was released
		srv, err := host.New(t.Context(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.Addr().String()
		if err := srv.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port still bound after Shutdown: %v", err)
		}
		ln.Close()
	}
}

// TestBusyAddress starts a server on addresses another listener holds: New
// must fail with the key and the address, release what it opened (the store
// opens again), and never panic.
func TestBusyAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = cacheDir
	for _, tc := range []struct {
		key        string
		web, admin string
	}{
		{"server.addr", addr, "127.0.0.1:0"},
		{"admin.addr", "127.0.0.1:0", addr},
	} {
		cfg.Server.Addr, cfg.Admin.Addr = tc.web, tc.admin
		srv, err := host.New(t.Context(), cfg, nil)
		if err == nil {
			srv.Shutdown(t.Context())
			t.Fatalf("%s: New on a busy address succeeded", tc.key)
		}
		for _, want := range []string{tc.key + "[" + addr + "]", "already in use", "another process"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tc.key, err, want)
			}
		}
	}
}
