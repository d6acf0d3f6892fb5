package plugins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/outcall"
)

// These tests run the SDK guest testdata/go/outcall against real HTTP
// servers on loopback, through the real client (plugins/outcall) under an
// operator policy that allows 127.0.0.0/8 unless a test says otherwise.

const outcallCommand = "callbackBeforeSendSingleMsgCommand"

type outResult struct {
	Status   int                 `json:"status"`
	Header   map[string][]string `json:"header"`
	Body     string              `json:"body"`
	BodyLen  int                 `json:"body_len"`
	Err      string              `json:"err"`
	Denied   bool                `json:"denied"`
	Quota    bool                `json:"quota"`
	Invalid  bool                `json:"invalid"`
	Timeout  bool                `json:"timeout"`
	Unavail  bool                `json:"unavailable"`
	NotFound bool                `json:"not_found"`
	Calls    int                 `json:"calls"`
	Secret   string              `json:"secret"`
}

type outEnv struct {
	e    *Engine
	tn   *Sandbox
	p    *Plugin
	pool *outcall.Pool
}

// outOpts tune newOutEnv.
type outOpts struct {
	allow    []string
	networks []string // operator's allowed networks; nil: 127.0.0.0/8
	noNets   bool     // the default policy, nothing allowed
	secrets  map[string]string
	lim      func(*limits.Limits)
	engine   EngineOptions
}

func newOutEnv(t testing.TB, o outOpts) *outEnv {
	t.Helper()
	var pol egress.Policy
	if !o.noNets {
		nets := o.networks
		if nets == nil {
			nets = []string{"127.0.0.0/8"}
		}
		var err error
		if pol.AllowNetworks, err = egress.ParseNetworks("egress.allow_networks", nets); err != nil {
			t.Fatal(err)
		}
	}
	pool := outcall.New(outcall.Options{Policy: pol})
	t.Cleanup(pool.Close)
	e := newTestEngine(t, o.engine)
	lim := testLimits()
	if o.lim != nil {
		o.lim(&lim)
	}
	tn := newTestTenant(t, e, SandboxOptions{
		Limits: lim, Grants: limits.Grants{HTTP: true},
		HTTP: pool.Client("t1", lim.WithDefaults().MaxOutIdleConns), EgressAllow: o.allow, Secrets: o.secrets,
	})
	p := load(t, tn, "outcall", goWasm(t, "outcall"))
	return &outEnv{e: e, tn: tn, p: p, pool: pool}
}

func (env *outEnv) run(t testing.TB, ctx context.Context, script map[string]any) (outResult, CallInfo, error) {
	t.Helper()
	s, _ := json.Marshal(script)
	body, _ := json.Marshal(map[string]any{"callbackCommand": outcallCommand, "sendID": "u1", "recvID": "u2", "content": string(s)})
	reply, info, err := env.p.Call(ctx, outcallCommand, body, nil)
	if err != nil {
		return outResult{}, info, err
	}
	var r struct {
		ErrMsg string `json:"errMsg"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		t.Fatalf("reply %s: %v", reply, err)
	}
	var out outResult
	if err := json.Unmarshal([]byte(r.ErrMsg), &out); err != nil {
		t.Fatalf("result %s: %v", r.ErrMsg, err)
	}
	return out, info, nil
}

func mustRun(t testing.TB, env *outEnv, script map[string]any) (outResult, CallInfo) {
	t.Helper()
	r, info, err := env.run(t, context.Background(), script)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return r, info
}

// allowOf is the egress pattern allowing exactly srv.
func allowOf(srv *httptest.Server) string { return srv.URL }

func TestOutCallRoundTrip(t *testing.T) {
	var got atomic.Pointer[http.Request]
	var gotBody atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(r)
		gotBody.Store(string(b))
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(201)
		fmt.Fprintf(w, "echo:%s", b)
	}))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, secrets: map[string]string{"token": "tok-123"}})
	r, info := mustRun(t, env, map[string]any{
		"method": "POST", "url": srv.URL + "/read?x=1", "body": "hello",
		"header": map[string][]string{"Authorization": {"Bearer {{secret:token}}"}, "X-Multi": {"a", "b"}},
	})
	if r.Err != "" || r.Status != 201 || r.Body != "echo:hello" || r.Header["X-Reply"][0] != "yes" || r.Calls != 1 {
		t.Fatalf("result %+v", r)
	}
	req := got.Load()
	if req.Method != "POST" || req.URL.Path != "/read" || req.URL.RawQuery != "x=1" || gotBody.Load() != "hello" {
		t.Fatalf("server saw %s %s %q", req.Method, req.URL, gotBody.Load())
	}
	if a := req.Header.Get("Authorization"); a != "Bearer tok-123" {
		t.Fatalf("Authorization = %q: the secret reference was not substituted", a)
	}
	if v := req.Header.Values("X-Multi"); len(v) != 2 {
		t.Fatalf("X-Multi = %q", v)
	}
	if info.OutCalls != 1 || info.OutCallTime <= 0 {
		t.Fatalf("info: OutCalls %d OutCallTime %v", info.OutCalls, info.OutCallTime)
	}
	// A response larger than the SDK's first buffer (4 KiB) goes through
	// take_result, without a second request.
	var hits atomic.Int32
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(strings.Repeat("x", 100_000)))
	}))
	defer big.Close()
	env2 := newOutEnv(t, outOpts{allow: []string{allowOf(big)}})
	r, _ = mustRun(t, env2, map[string]any{"url": big.URL})
	if r.Err != "" || r.BodyLen != 100_000 || hits.Load() != 1 {
		t.Fatalf("large response: %+v, %d requests", r, hits.Load())
	}
}

func TestOutCallGrantNeeded(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{})
	_, err := tn.Load(context.Background(), "outcall", goWasm(t, "outcall"))
	if err == nil || !strings.Contains(err.Error(), "grant[http]") {
		t.Fatalf("load without the http grant: %v", err)
	}
}

// Hostile: every refusal is a status the guest handles, and the server
// outside the grant never sees a request.
func TestOutCallRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := newOutEnv(t, outOpts{allow: []string{"http://127.0.0.1:1"}}) // not srv's port
	cases := []struct {
		name   string
		script map[string]any
		check  func(outResult) bool
		want   string
	}{
		{"outside the grant", map[string]any{"url": srv.URL + "/"}, func(r outResult) bool { return r.Denied }, "not in the tenant's egress_allow"},
		{"other scheme", map[string]any{"url": "https://127.0.0.1:1/"}, func(r outResult) bool { return r.Denied }, "egress_allow"},
		{"CONNECT", map[string]any{"method": "CONNECT", "url": "http://127.0.0.1:1/"}, func(r outResult) bool { return r.Invalid }, "method"},
		{"TRACE", map[string]any{"method": "TRACE", "url": "http://127.0.0.1:1/"}, func(r outResult) bool { return r.Invalid }, "method"},
		{"userinfo", map[string]any{"url": "http://user:pw@127.0.0.1:1/"}, func(r outResult) bool { return r.Invalid }, "userinfo"},
		{"CRLF in a value", map[string]any{"url": "http://127.0.0.1:1/", "header": map[string][]string{"X-A": {"v\r\nX-Injected: 1"}}}, func(r outResult) bool { return r.Invalid }, "control character"},
		{"CRLF in a name", map[string]any{"url": "http://127.0.0.1:1/", "header": map[string][]string{"X-A\r\nX-B": {"v"}}}, func(r outResult) bool { return r.Invalid }, "token"},
		{"Host header", map[string]any{"url": "http://127.0.0.1:1/", "header": map[string][]string{"Host": {"127.0.0.1:" + port}}}, func(r outResult) bool { return r.Invalid }, "set by the host"},
		{"relative URL", map[string]any{"url": "/x"}, func(r outResult) bool { return r.Invalid }, "scheme"},
	}
	for _, c := range cases {
		r, _ := mustRun(t, env, c.script)
		if !c.check(r) || !strings.Contains(r.Err, c.want) || !strings.HasPrefix(r.Err, "http: ") {
			t.Errorf("%s: %+v; want the status and an error mentioning %q", c.name, r, c.want)
		}
		if strings.Contains(r.Err, "Injected") {
			t.Errorf("%s: the error quotes a header value: %s", c.name, r.Err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the server outside the grant got %d requests", hits.Load())
	}
}

// Hostile: a name the tenant may list ("localhost") that resolves to a
// loopback address is refused on the address connected to, by the
// operator's default policy, although the tenant's grant lists it.
func TestOutCallPrivateAddressThroughName(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := newOutEnv(t, outOpts{noNets: true, allow: []string{"http://localhost:" + port, allowOf(srv)}})
	r, _ := mustRun(t, env, map[string]any{"url": "http://localhost:" + port + "/"})
	if !r.Denied || !strings.Contains(r.Err, "loopback") || !strings.Contains(r.Err, "egress.allow_networks") {
		t.Fatalf("localhost: %+v", r)
	}
	// The address itself, listed by the tenant, is refused the same way.
	r, _ = mustRun(t, env, map[string]any{"url": srv.URL + "/"})
	if !r.Denied || !strings.Contains(r.Err, "127.0.0.1") {
		t.Fatalf("127.0.0.1: %+v", r)
	}
	if hits.Load() != 0 {
		t.Fatalf("the server got %d requests", hits.Load())
	}
	// An operator's allowed network that does not hold the address the name
	// resolves to does not let it through either: the check is on the
	// resolved address, not the name.
	env2 := newOutEnv(t, outOpts{networks: []string{"127.0.0.2/32"}, allow: []string{"http://localhost:" + port}})
	r, _ = mustRun(t, env2, map[string]any{"url": "http://localhost:" + port + "/"})
	if !r.Denied || hits.Load() != 0 {
		t.Fatalf("localhost with 127.0.0.2/32 allowed: %+v", r)
	}
}

// The dialer's check sees the resolved address whatever the resolver
// answers: a resolver that rebinds a public-looking name to 10.0.0.1 is
// refused at connect (the address is never dialed).
func TestPolicyChecksResolvedAddress(t *testing.T) {
	var pol egress.Policy
	d := pol.Dialer()
	d.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	// A literal private address goes straight to Control.
	_, err := d.DialContext(context.Background(), "tcp", "10.0.0.1:80")
	var e *egress.Error
	if !errors.As(err, &e) || !strings.Contains(e.Msg, "private") {
		t.Fatalf("dial 10.0.0.1: %v", err)
	}
	if err := pol.Control("tcp", netip.MustParseAddrPort("[fd00:ec2::254]:80").String(), nil); err == nil {
		t.Fatal("the IPv6 metadata address is allowed")
	}
}

// Hostile: a redirect to a server outside the grant is returned to the
// guest, never followed.
func TestOutCallRedirectNotFollowed(t *testing.T) {
	var outside atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { outside.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}})
	r, _ := mustRun(t, env, map[string]any{"url": srv.URL + "/", "header": map[string][]string{"Authorization": {"Bearer x"}}})
	if r.Err != "" || r.Status != 302 || !strings.HasPrefix(r.Header["Location"][0], other.URL) {
		t.Fatalf("result %+v", r)
	}
	// Following it is another out-call, checked against the grant.
	r, _ = mustRun(t, env, map[string]any{"url": other.URL + "/steal"})
	if !r.Denied || outside.Load() != 0 {
		t.Fatalf("following the redirect: %+v, %d requests outside", r, outside.Load())
	}
}

// Hostile: a response body over max_out_response_bytes fails the out-call,
// with or without a Content-Length.
func TestOutCallHugeResponse(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Header().Set("Transfer-Encoding", "chunked")
			for range 64 {
				w.Write(make([]byte, 64<<10))
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(64<<20))
		w.Write(make([]byte, 1<<20))
	}))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) { l.MaxOutResponseBytes = 256 << 10 }})
	for _, path := range []string{"/length", "/chunked"} {
		r, info := mustRun(t, env, map[string]any{"url": srv.URL + path})
		if !r.Quota || !strings.Contains(r.Err, "max_out_response_bytes[262144]") {
			t.Fatalf("%s: %+v", path, r)
		}
		if info.MemoryPages > 256 {
			t.Fatalf("%s: guest memory grew to %d pages", path, info.MemoryPages)
		}
	}
}

// Hostile: a server that never answers costs the guest out_call_timeout,
// then a timeout status; the callback's own deadline bounds it too.
func TestOutCallSlowServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) { l.OutCallTimeout = 200 * time.Millisecond }})
	r, info := mustRun(t, env, map[string]any{"url": srv.URL})
	if !r.Timeout || !strings.Contains(r.Err, "out_call_timeout") {
		t.Fatalf("result %+v", r)
	}
	if info.OutCalls != 1 || info.OutCallTime < 200*time.Millisecond {
		t.Fatalf("info %+v", info)
	}
	// With a minute allowed per out-call, the callback's deadline ends it.
	env2 := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) { l.OutCallTimeout = time.Minute }})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, _ = env2.run(t, ctx, map[string]any{"url": srv.URL})
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the call took %v past a 300ms deadline", d)
	}
}

// Hostile: a guest looping on out-calls gets max_out_calls of them.
func TestOutCallsPerCall(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) { l.MaxOutCalls = 3 }})
	r, info := mustRun(t, env, map[string]any{"url": srv.URL, "times": 1000})
	if r.Calls != 3 || !r.Quota || !strings.Contains(r.Err, "max_out_calls[3]") || hits.Load() != 3 {
		t.Fatalf("result %+v, %d requests", r, hits.Load())
	}
	if info.OutCalls != 3 || info.Instructions < 3*hostHTTPCost {
		t.Fatalf("info %+v: three out-calls billed", info)
	}
	// The count is per call.
	if r, _ := mustRun(t, env, map[string]any{"url": srv.URL}); r.Calls != 1 || r.Err != "" {
		t.Fatalf("next call: %+v", r)
	}
}

// Hostile: 16 callers at once against max_out_concurrency 4: four wait on
// the server, twelve are refused at once; and the four waiting hold no CPU
// slot.
func TestOutCallConcurrency(t *testing.T) {
	const callers, limit = 16, 4
	release := make(chan struct{})
	var releaseOnce sync.Once
	var arrived atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		<-release
	}))
	defer srv.Close()
	// Deferred after Close, so it runs first: a failing test must not leave
	// the handlers blocked, or Close waits for them forever.
	defer releaseOnce.Do(func() { close(release) })
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) {
		l.MaxOutConcurrency = limit
		l.MaxInstances = callers
		l.OutCallTimeout = time.Minute
	}, engine: EngineOptions{MaxCPUWait: time.Minute}}) // 16 calls queue for 2 CPU slots on a loaded machine
	type outcome struct {
		r   outResult
		err error
	}
	results := make(chan outcome, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := env.run(t, context.Background(), map[string]any{"url": srv.URL})
			results <- outcome{r, err}
		}()
	}
	refused := 0
	for refused < callers-limit {
		o := <-results
		r := o.r
		if o.err != nil {
			t.Fatalf("a call failed: %v", o.err)
		}
		if !r.Quota || !strings.Contains(r.Err, "max_out_concurrency[4]") {
			t.Fatalf("a caller past the limit: %+v", r)
		}
		refused++
	}
	for deadline := time.Now().Add(time.Minute); arrived.Load() < limit; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d out-calls reached the server in a minute", arrived.Load(), limit)
		}
	}
	if s := env.e.CPUStats(); s.Busy != 0 {
		t.Fatalf("with %d calls blocked in out-calls, CPUStats %+v: they hold CPU slots", limit, s)
	}
	releaseOnce.Do(func() { close(release) })
	wg.Wait()
	close(results)
	for o := range results {
		if o.err != nil || o.r.Calls != 1 || o.r.Err != "" {
			t.Fatalf("a caller within the limit: %+v, %v", o.r, o.err)
		}
	}
	if arrived.Load() != limit {
		t.Fatalf("the server got %d requests, want %d", arrived.Load(), limit)
	}
}

// TLS is verified: a self-signed certificate fails the out-call.
func TestOutCallTLSVerified(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake, expected
	srv.StartTLS()
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}})
	r, _ := mustRun(t, env, map[string]any{"url": srv.URL})
	if !r.Unavail || !strings.Contains(r.Err, "certificate") {
		t.Fatalf("result %+v", r)
	}
}

// Secrets reach the service and the guest that asks, and nothing else: not
// errors, not the guest's log lines, not the call's error.
func TestOutCallSecretsNeverLeak(t *testing.T) {
	const value = "sk-live-4f9a2c81e07d"
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("X-Api-Key"))
	}))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, secrets: map[string]string{"api_key": value}})
	ctx := WithLogCapture(context.Background())
	check := func(what string, r outResult, info CallInfo, err error) {
		t.Helper()
		all := fmt.Sprint(r.Err, err, info.Logs)
		if strings.Contains(all, value) {
			t.Fatalf("%s: the secret leaked: %s", what, all)
		}
	}
	r, info, err := env.run(t, ctx, map[string]any{"url": srv.URL, "header": map[string][]string{"X-Api-Key": {"{{secret:api_key}}"}}})
	check("substituted", r, info, err)
	if seen.Load() != value || r.Err != "" {
		t.Fatalf("the service saw %q; result %+v", seen.Load(), r)
	}
	// A reference to a missing secret names the secret, not the value.
	r, info, err = env.run(t, ctx, map[string]any{"url": srv.URL, "header": map[string][]string{"X-Api-Key": {"{{secret:nope}}"}}})
	check("missing", r, info, err)
	if !r.Invalid || !strings.Contains(r.Err, "secret[nope]") {
		t.Fatalf("missing secret: %+v", r)
	}
	// An invalid header after substitution does not quote it.
	r, info, err = env.run(t, ctx, map[string]any{"url": srv.URL, "header": map[string][]string{"X-Api-Key": {"{{secret:api_key}}\r\n"}}})
	check("invalid header", r, info, err)
	// A denied destination with the secret in a header.
	r, info, err = env.run(t, ctx, map[string]any{"url": "http://127.0.0.1:1/", "header": map[string][]string{"Authorization": {"{{secret:api_key}}"}}})
	check("denied", r, info, err)
	// The guest may read it; a line it logs with it is redacted.
	r, info, err = env.run(t, ctx, map[string]any{"secret": "api_key", "log": "key is " + value})
	if r.Secret != value {
		t.Fatalf("secret: %+v", r)
	}
	if len(info.Logs) != 1 || strings.Contains(info.Logs[0].Message, value) || !strings.Contains(info.Logs[0].Message, "[secret:api_key]") {
		t.Fatalf("log %+v: want the value redacted", info.Logs)
	}
	// A handler that panics with it: the call's error names the secret only.
	_, _, err = env.run(t, ctx, map[string]any{"secret": "api_key", "panic": true})
	if err == nil || strings.Contains(err.Error(), value) || !strings.Contains(err.Error(), "[secret:api_key]") {
		t.Fatalf("panic with the secret: %v", err)
	}
	r, _, _ = env.run(t, ctx, map[string]any{"secret": "nope"})
	if !r.NotFound || !strings.Contains(r.Err, "secret[nope]") {
		t.Fatalf("missing secret: %+v", r)
	}
}

// Dry runs have no client: out-calls fail as unavailable, saying why.
func TestOutCallWithoutClient(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{Grants: limits.Grants{HTTP: true}, EgressAllow: []string{"http://127.0.0.1:1"}})
	env := &outEnv{e: e, tn: tn, p: load(t, tn, "outcall", goWasm(t, "outcall"))}
	r, _ := mustRun(t, env, map[string]any{"url": "http://127.0.0.1:1/"})
	if !r.Unavail || !strings.Contains(r.Err, "dry run") {
		t.Fatalf("result %+v", r)
	}
}

func grantsHTTP() limits.Grants { return limits.Grants{HTTP: true} }

// A call waiting in an out-call ends when its tenant is deleted, without
// waiting for the out-call's timeout (a minute here).
func TestOutCallEndsWithTenant(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // until the client gives up
	}))
	defer srv.Close()
	env := newOutEnv(t, outOpts{allow: []string{allowOf(srv)}, lim: func(l *limits.Limits) { l.OutCallTimeout = time.Minute }})
	done := make(chan error, 1)
	go func() {
		_, _, err := env.run(t, context.Background(), map[string]any{"url": srv.URL})
		done <- err
	}()
	<-arrived
	start := time.Now()
	if err := env.tn.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if KindOf(err) != KindClosed {
		t.Fatalf("call: %v, want KindClosed", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the call ended %v after the tenant was deleted", d)
	}
}
