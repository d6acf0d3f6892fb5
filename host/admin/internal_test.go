package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// newAPI returns an API on a fresh registry, with the given operator token.
func newAPI(t *testing.T, operator string) *API {
	t.Helper()
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), boltdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(ctx, st, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	eng, err := plugins.NewEngine(ctx, plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(ctx) })
	a, err := New(Options{Registry: reg, Engine: eng, OperatorToken: operator})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// serveOnce runs one request through the handler without a network. It
// returns the status, the error message and the WWW-Authenticate header.
func serveOnce(a *API, method, path, auth string) (int, string, string) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("localhost")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	var rc fasthttp.RequestCtx
	rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
	a.Handler()(&rc)
	var e ErrorBody
	_ = json.Unmarshal(rc.Response.Body(), &e)
	return rc.Response.StatusCode(), e.Error, string(rc.Response.Header.Peek("WWW-Authenticate"))
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		operator string
		auth     string
		status   int
		msg      string
	}{
		{"operator", "s3cret", "Bearer s3cret", 200, ""},
		{"scheme is case-insensitive", "s3cret", "bearer s3cret", 200, ""},
		{"basic scheme", "s3cret", "Basic czNjcmV0", 401, "missing bearer token: the Authorization header must be Bearer <token>"},
		{"empty bearer", "s3cret", "Bearer ", 401, "missing bearer token: the Authorization header must be Bearer <token>"},
		{"prefix of the token", "s3cret", "Bearer s3cre", 401, "invalid token"},
		{"no operator configured", "", "Bearer x", 401, "invalid token: this server has no admin.token, so only tenant tokens are valid; set one to use operator routes"},
		{"tenant-shaped, unknown", "s3cret", "Bearer acme.xyz", 401, "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newAPI(t, tc.operator)
			status, msg, challenge := serveOnce(a, "GET", "/v1/tenants", tc.auth)
			if status != tc.status || msg != tc.msg {
				t.Fatalf("got %d %q, want %d %q", status, msg, tc.status, tc.msg)
			}
			if want := map[bool]string{true: `Bearer realm="imhook admin"`}[status == 401]; challenge != want {
				t.Fatalf("WWW-Authenticate %q, want %q", challenge, want)
			}
		})
	}
}

// TestNoOperatorToken sends a tenant token to an operator route of a server
// without admin.token: the refusal says what to configure.
func TestNoOperatorToken(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "")
	_, secret, err := a.reg.CreateTenant(t.Context(), "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	status, msg, _ := serveOnce(a, "GET", "/v1/tenants", "Bearer "+JoinToken("acme", secret))
	if want := "token of tenant[acme] cannot manage tenants: this server has no admin.token; set one to use operator routes"; status != 403 || msg != want {
		t.Fatalf("got %d %q, want 403 %q", status, msg, want)
	}
}

func TestLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost":         true,
		"LOCALHOST:8081":    true,
		"127.0.0.1":         true,
		"127.1.2.3:8081":    true,
		"[::1]:8081":        true,
		"::1":               true,
		"":                  false,
		"evil.example":      false,
		"localhost.evil:80": false,
		"10.0.0.1:8081":     false,
		"[::2]:8081":        false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestMergePatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, target, patch, want string }{
		{"add key", `{"a":1}`, `{"b":2}`, `{"a":1,"b":2}`},
		{"null deletes", `{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{"nested merge", `{"c":{"x":"1","y":"2"}}`, `{"c":{"y":null,"z":"3"}}`, `{"c":{"x":"1","z":"3"}}`},
		{"array replaces", `{"g":["a","b"]}`, `{"g":["c"]}`, `{"g":["c"]}`},
		{"object over scalar", `{"a":1}`, `{"a":{"b":1}}`, `{"a":{"b":1}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var target, patch, want any
			for i, s := range []string{tc.target, tc.patch, tc.want} {
				if err := json.Unmarshal([]byte(s), []*any{&target, &patch, &want}[i]); err != nil {
					t.Fatal(err)
				}
			}
			if got := mergePatch(target, patch); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	const h1 = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
	const h2 = "aaaaaaaaaaaa2222222222222222222222222222222222222222222222222222"
	p := &registry.Plugin{Name: "x", Active: h2, Versions: []registry.Version{{Hash: h1}, {Hash: h2}}}
	for _, tc := range []struct {
		in, want, err string
	}{
		{h1, h1, ""},
		{"aaaaaaaaaaaa1", h1, ""},
		{"active", h2, ""},
		{"aaaaaaaaaaaa", "", "version[aaaaaaaaaaaa] matches 2 versions; give more digits"},
		{"aaaa", "", `version[aaaa]: want a lowercase hex sha256, or a prefix of it of at least 12 digits, or "active"`},
		{"AAAAAAAAAAAA1", "", `version[AAAAAAAAAAAA1]: want a lowercase hex sha256, or a prefix of it of at least 12 digits, or "active"`},
		{"bbbbbbbbbbbbbb", "", "tenant[t] plugin[x] version[bbbbbbbbbbbbbb]: not found"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r := &request{tenant: "t", hash: tc.in}
			v, err := r.resolve(p)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || v.Hash != tc.want {
				t.Fatalf("got %s %v, want %s", v.Hash, err, tc.want)
			}
		})
	}
}

// TestClassify pins the status of each error family, and that a store outage
// answers 503 without the store's address (tenants see these messages).
func TestClassify(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "op")
	outage := fmt.Errorf("tenant[x]: update: redis at 10.1.2.3:6379: connection refused (%w)", registry.ErrUnavailable)
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"not found", fmt.Errorf("tenant[x]: %w", registry.ErrNotFound), fasthttp.StatusNotFound},
		{"exists", fmt.Errorf("tenant[x]: %w", registry.ErrExists), fasthttp.StatusConflict},
		{"conflict", fmt.Errorf("tenant[x]: %w", registry.ErrConflict), fasthttp.StatusPreconditionFailed},
		{"invalid", fmt.Errorf("tenant[x]: %w", registry.ErrInvalid), fasthttp.StatusBadRequest},
		{"store unavailable", outage, fasthttp.StatusServiceUnavailable},
		{"store lost data", fmt.Errorf("registry: redis at 10.1.2.3:6379 went back: %w", registry.ErrDataLost), fasthttp.StatusServiceUnavailable},
		{"anything else", errors.New("boom"), fasthttp.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := a.classify(tc.err)
			if status != tc.status {
				t.Fatalf("classify(%v) status = %d, want %d", tc.err, status, tc.status)
			}
			if strings.Contains(msg, "10.1.2.3") || strings.Contains(msg, "boom") {
				t.Fatalf("classify(%v) message %q leaks internal details", tc.err, msg)
			}
		})
	}
}

// TestOutageAnswers checks that a read during a store outage is not told
// what a write is told ("see whether the change was applied"), and that
// lost data says so.
func TestOutageAnswers(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "op")
	outage := fmt.Errorf("tenant[x]: read document: redis at 10.1.2.3:6379: connection refused (%w)", registry.ErrUnavailable)
	answer := func(method string, err error) string {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		a.handleError(&ctx, err)
		if ctx.Response.StatusCode() != fasthttp.StatusServiceUnavailable {
			t.Fatalf("%s with %v: status %d, want 503", method, err, ctx.Response.StatusCode())
		}
		return string(ctx.Response.Body())
	}
	if got := answer("GET", outage); strings.Contains(got, "change was applied") || !strings.Contains(got, "cannot be read now") {
		t.Errorf("read during an outage answers %s", got)
	}
	if got := answer("PUT", outage); !strings.Contains(got, "change was applied") {
		t.Errorf("write during an outage answers %s", got)
	}
	lost := fmt.Errorf("registry: redis at 10.1.2.3:6379 went back: %w", registry.ErrDataLost)
	if got := answer("GET", lost); !strings.Contains(got, "lost data") || strings.Contains(got, "10.1.2.3") {
		t.Errorf("read after lost data answers %s", got)
	}
}
