package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
)

// TestAuthMatrix sends every route family with each kind of credential and
// checks who gets in. "In" means the status is neither 401 nor 403: the
// request may still fail later (404 for a missing plugin), which is fine here.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	wasm := fixture(t, "allow")
	const p = "/v1/tenants/a"
	const v = p + "/plugins/x/versions/0123456789ab"
	routes := []struct {
		method, path string
		body         any
		ctype        string
		operatorOnly bool
	}{
		{"GET", "/v1/tenants", nil, "", true},
		{"POST", "/v1/tenants", map[string]any{"id": "zz"}, "", true},
		{"DELETE", "/v1/tenants/nobody", nil, "", true}, // not a: the operator's call would delete it
		{"GET", p, nil, "", false},
		{"PATCH", p, map[string]any{"settings": map[string]any{"config": map[string]any{"k": "v"}}}, "", false},
		{"GET", p + "/settings", nil, "", false},
		{"PUT", p + "/settings", map[string]any{}, "", false},
		{"GET", p + "/stats", nil, "", false},
		{"GET", p + "/plugins", nil, "", false},
		{"PUT", p + "/plugins/order", map[string]any{"order": []string{}}, "", false},
		{"GET", p + "/plugins/x", nil, "", false},
		{"DELETE", p + "/plugins/x", nil, "", false},
		{"POST", p + "/plugins/x/rollback", nil, "", false},
		{"GET", p + "/plugins/x/versions", nil, "", false},
		{"POST", p + "/plugins/x/versions", wasm, "application/wasm", false},
		{"GET", v, nil, "", false},
		{"DELETE", v, nil, "", false},
		{"POST", v + "/activate", nil, "", false},
		{"POST", v + "/test?command=callbackBeforeSendSingleMsgCommand", singleMsg, "application/json", false},
	}
	ghost := client{t, e.srv.URL, "ghost.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			check := func(who string, c client, wantStatus int, wantMsg string) {
				t.Helper()
				c.t = t
				r := c.do(rt.method, rt.path, rt.body, rt.ctype)
				if wantStatus == 0 {
					if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
						t.Fatalf("%s: status %d, want access; body %s", who, r.status, r.body)
					}
					return
				}
				if r.status != wantStatus {
					t.Fatalf("%s: status %d, want %d; body %s", who, r.status, wantStatus, r.body)
				}
				if got := r.errMsg(t); got != wantMsg {
					t.Fatalf("%s: error %q, want %q", who, got, wantMsg)
				}
			}
			check("anonymous", e.anon, 401, "missing bearer token: send Authorization: Bearer <token>")
			check("bad token", client{t, e.srv.URL, "nope"}, 401, "invalid token")
			check("wrong secret", client{t, e.srv.URL, "a.wrong"}, 401, "invalid token")
			if rt.operatorOnly {
				check("tenant b", e.b, 403, "token of tenant[b] cannot manage tenants; use the operator token")
				check("tenant a", e.a, 403, "token of tenant[a] cannot manage tenants; use the operator token")
			} else {
				check("tenant b", e.b, 403, "token of tenant[b] cannot access tenant[a]")
				check("tenant a", e.a, 0, "")
			}
			check("operator", e.op, 0, "")
		})
	}
	// A request about a tenant that does not exist gets the same answer as one
	// about a tenant that does: the 403 does not reveal existence.
	t.Run("no existence hint", func(t *testing.T) {
		c := e.b
		c.t = t
		for _, id := range []string{"a", "ghost"} {
			r := c.do("GET", "/v1/tenants/"+id+"/plugins", nil, "").want(t, 403)
			if got, want := r.errMsg(t), "token of tenant[b] cannot access tenant["+id+"]"; got != want {
				t.Fatalf("error %q, want %q", got, want)
			}
		}
		// And a made-up token naming a missing tenant is just invalid.
		ghost.t = t
		if got := ghost.do("GET", "/v1/tenants/ghost", nil, "").want(t, 401).errMsg(t); got != "invalid token" {
			t.Fatalf("error %q", got)
		}
	})
}

func TestWhoami(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	for _, tc := range []struct {
		name string
		c    client
		want admin.Whoami
	}{
		{"operator", e.op, admin.Whoami{Role: "operator"}},
		{"tenant", e.a, admin.Whoami{Role: "tenant", Tenant: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.t = t
			var got admin.Whoami
			tc.c.do("GET", "/v1/whoami", nil, "").want(t, 200).decode(t, &got)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTokenRotation(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	var out admin.TenantToken
	e.a.do("POST", "/v1/tenants/a/token", nil, "").want(t, 200).decode(t, &out)
	if out.Token == e.a.token || !strings.HasPrefix(out.Token, "a.") {
		t.Fatalf("new token %q", out.Token)
	}
	e.a.do("GET", "/v1/tenants/a", nil, "").want(t, 401)
	fresh := client{t, e.srv.URL, out.Token}
	fresh.do("GET", "/v1/tenants/a", nil, "").want(t, 200)
	// The response never carries the token's hash.
	if strings.Contains(string(fresh.do("GET", "/v1/tenants/a", nil, "").body), "token_hash") {
		t.Fatal("tenant view exposes token_hash")
	}
}

// TestGuards checks the DNS rebinding and cross-origin defences.
func TestGuards(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	for _, tc := range []struct {
		name    string
		hdr     []string
		status  int
		message string
	}{
		{"loopback host", []string{"Host", "localhost:8081"}, 200, ""},
		{"ipv6 loopback", []string{"Host", "[::1]:8081"}, 200, ""},
		{"rebound name", []string{"Host", "evil.example:8081"}, 403,
			"host[evil.example:8081] refused: the admin API listens on loopback and answers only to localhost, 127.0.0.1 or [::1]"},
		{"cross origin", []string{"Origin", "http://evil.example"}, 403, "cross-origin request from origin[http://evil.example] refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.op
			c.t = t
			r := c.do("GET", "/v1/whoami", nil, "", tc.hdr...).want(t, tc.status)
			if tc.message != "" {
				if got := r.errMsg(t); got != tc.message {
					t.Fatalf("error %q, want %q", got, tc.message)
				}
			}
		})
	}
	t.Run("same origin", func(t *testing.T) {
		c := e.op
		c.t = t
		c.do("GET", "/v1/whoami", nil, "", "Origin", e.srv.URL).want(t, 200)
	})
	t.Run("unknown route", func(t *testing.T) {
		c := e.op
		c.t = t
		if got := c.do("GET", "/v2/x", nil, "").want(t, 404).errMsg(t); got != "no route GET /v2/x; see docs/admin-api.md" {
			t.Fatal(got)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		c := e.op
		c.t = t
		if got := c.do("PUT", "/v1/tenants", nil, "").want(t, 405).errMsg(t); got != "method PUT not allowed on /v1/tenants; allowed: GET, POST" {
			t.Fatal(got)
		}
	})
}
