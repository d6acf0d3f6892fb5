package examples_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

// script runs the SDK's host-function test guest (test/guest/hostfuncs.ts)
// on ops through the webhook path and returns the outcome of each
// operation. The guest handles every failure it is given, so the call must
// be a reply, never a failure.
func (s *server) script(tenant, ops string) []string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"callbackCommand": "callbackBeforeAddFriendCommand", "fromUserID": "a", "toUserID": "b", "reqMsg": ops})
	status, b := s.post(tenant, "callbackBeforeAddFriendCommand", string(body))
	var r struct {
		ErrCode int    `json:"errCode"`
		ErrMsg  string `json:"errMsg"`
		ErrDlt  string `json:"errDlt"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(b), &r) != nil || r.ErrCode != 1 {
		s.t.Fatalf("tenant[%s] %q: %d %s, want the guest's reply (errCode 1)", tenant, ops, status, b)
	}
	return strings.Split(r.ErrMsg, ";")
}

// TestASHostFunctionsThroughServer runs the AssemblyScript SDK's bindings
// of the KV, out-call, secret and delivery host functions in a real server
// (bbolt state on disk, loopback HTTP services, a secret set through the
// registry): every operation's result, the statuses a plugin gets as values
// (not found, conflict, denied, quota, invalid, unavailable), outputs larger
// than the guest's first buffer (take_result), and a queued delivery retried
// with the same event ID. A tenant without the grants cannot upload it.
func TestASHostFunctionsThroughServer(t *testing.T) {
	wasm := builtAS(t, sdkHostGuest)
	const secret = "svc-tok-9e2b41c7"
	var mu sync.Mutex
	var deliveries []string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		auth := "noauth"
		if r.Header.Get("Authorization") == "Bearer "+secret {
			auth = "auth"
		}
		w.Header().Set("X-Echo", r.Method+" "+auth)
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, strings.Repeat("y", 10000))
		case "/missing":
			http.NotFound(w, r)
		case "/delivery":
			mu.Lock()
			deliveries = append(deliveries, string(b))
			mu.Unlock()
		default:
			w.Write(b)
		}
	}))
	defer svc.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a request reached a service outside egress_allow: %s %s", r.Method, r.URL)
	}))
	defer other.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // in egress_allow, but nothing listens there

	s := startServer(t, func(c *host.Config) {
		c.Egress.AllowNetworks = []string{"127.0.0.0/8"} // the services are on loopback
		c.Queue.MinBackoff = time.Millisecond
	})
	set := registry.Settings{
		Grants:      []string{limits.GrantKV, limits.GrantHTTP},
		EgressAllow: []string{svc.URL, closed.URL},
		Limits:      limits.Limits{MaxKVValueBytes: 4096, MaxKVOps: 20, MaxOutCalls: 3},
		Queue:       registry.QueueSettings{MaxAttempts: 2},
	}
	s.tenant("full", set, wasm)
	if _, err := s.srv.Registry().SetSecret(context.Background(), "full", "svc", secret, 0); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ ops, want string }{
		// State: each operation, and the statuses a plugin handles.
		{"get a", `^err=not_found kv_get: `},
		{"set a hello;get a", `^ok;v=hello rev=[1-9][0-9]*$`},
		{"cas a x 999999", `^err=conflict kv_cas: `},
		{"cas fresh v 0;cas fresh v 0", `^rev=[1-9][0-9]*;err=conflict `},
		{"add n 5;add n 2;get n", `^n=5;n=7;v=7 rev=`},
		{"set a text;add a 1", `^ok;err=invalid kv_add: `},
		{"set p1 x;set p2 x;list p", `^ok;ok;keys=p1,p2 next=$`},
		{"list p  1", `^keys=p1 next=p1$`},
		{"list p p1", `^keys=p2 next=$`},
		{"del a;get a;del a", `^ok;err=not_found [^;]*;err=not_found kv_delete: `},
		{"set ttl v 1", `^ok$`},
		// A value larger than the guest's first buffer (512 bytes) comes through take_result.
		{"big b 3000;get b", `^ok;len=3000 last=z rev=[1-9]`},
		// Quotas: a value over max_kv_value_bytes, operations over max_kv_ops.
		{"big c 5000", `^err=quota kv_set: .*max_kv_value_bytes`},
		{"ops 25", `^err=quota .*max_kv_ops\[20\]`},
		// Out-calls: the secret substituted into the header, any HTTP status a response.
		{"http POST " + svc.URL + "/echo hello", `^status=200 echo=POST auth body=hello$`},
		{"http GET " + svc.URL + "/missing", `^status=404 echo=GET auth body=404 page not found`},
		// A response larger than the guest's first buffer (4 KiB) comes through take_result.
		{"http GET " + svc.URL + "/big", `^status=200 echo=GET auth body=len=10000$`},
		{"http GET " + other.URL + "/x", `^err=denied http: .*egress_allow`},
		{"http GET " + closed.URL + "/x", `^err=unavailable http: `},
		{"http TRACE " + svc.URL + "/x", `^err=invalid http: `},
		{"http GET " + svc.URL + ";http GET " + svc.URL + ";http GET " + svc.URL + ";http GET " + svc.URL, `^(status=200[^;]*;){3}err=quota http: .*max_out_calls`},
		{"secret svc;secret nope", `^len=16;err=not_found secret: `},
		{"delivery", `^none$`}, // a before-callback runs inline
	} {
		got := strings.Join(s.script("full", tc.ops), ";")
		if !regexp.MustCompile(tc.want).MatchString(got) {
			t.Errorf("%q:\n got  %s\n want %s", tc.ops, got, tc.want)
		}
		if strings.Contains(got, secret) {
			t.Errorf("%q: the secret reached the plugin's reply: %s", tc.ops, got)
		}
	}

	// A queued after-callback that asks for a retry is delivered again with
	// the same event ID, up to queue.max_attempts (2).
	body := `{"callbackCommand":"callbackAfterAddFriendCommand","fromUserID":"a","toUserID":"b","reqMsg":"delivery ` + svc.URL + `/delivery;retry 1"}`
	if status, b := s.post("full", "callbackAfterAddFriendCommand", body); status != http.StatusOK {
		t.Fatalf("after-callback: %d %s", status, b)
	}
	var got []string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got = append(got[:0], deliveries...)
		mu.Unlock()
		if len(got) >= 2 {
			break
		}
	}
	re := regexp.MustCompile(`^id=([0-9a-f]{32}) attempt=([0-9]+)$`)
	if len(got) != 2 || !re.MatchString(got[0]) || !re.MatchString(got[1]) ||
		re.FindStringSubmatch(got[0])[1] != re.FindStringSubmatch(got[1])[1] ||
		re.FindStringSubmatch(got[0])[2] != "1" || re.FindStringSubmatch(got[1])[2] != "2" {
		t.Fatalf("deliveries %q, want attempts 1 and 2 of one event ID", got)
	}

	// Without the grants the module is refused at upload.
	ctx := context.Background()
	for _, g := range [][]string{nil, {limits.GrantKV}, {limits.GrantHTTP}} {
		id := "grants" + strings.Join(g, "")
		if _, _, err := s.srv.Registry().CreateTenant(ctx, id, registry.Settings{Grants: g}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.srv.Install(ctx, id, "p", wasm); err == nil || !strings.Contains(err.Error(), "grant[") {
			t.Errorf("grants %v: upload gave %v, want a refusal naming the missing grant", g, err)
		}
	}
}
