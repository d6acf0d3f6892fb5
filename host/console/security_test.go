package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// TestSecurityModel checks, over real HTTP, what the browser tests rely on:
// the headers, the cookie, CSRF and Origin refusals, and that a tenant's
// session reaches nothing of another tenant nor the operator's pages.
func TestSecurityModel(t *testing.T) {
	s := start(t)
	acme := s.tenant("acme", registry.Settings{})
	s.tenant("other", registry.Settings{})

	anon := newClient(t, s)
	st, h, _ := anon.do("GET", "/console/tenants", nil)
	if st != http.StatusSeeOther || !strings.HasSuffix(h.Get("Location"), "/console/login") {
		t.Errorf("anonymous GET /console/tenants: %d to %q, want 303 to the login page", st, h.Get("Location"))
	}
	st, _, _ = anon.do("GET", "/console/t/acme/logs.json", nil)
	if st != http.StatusUnauthorized {
		t.Errorf("anonymous logs.json: %d, want 401", st)
	}
	st, h, page := anon.do("GET", "/console/login", nil)
	for k, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	} {
		if !strings.Contains(h.Get(k), want) {
			t.Errorf("login page %s = %q, want it to contain %q", k, h.Get(k), want)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || strings.Contains(h.Get("Content-Security-Policy"), "unsafe-inline") {
		t.Errorf("CSP %q: want frame-ancestors 'none' and no unsafe-inline", h.Get("Content-Security-Policy"))
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") {
		t.Errorf("login page has inline script or style")
	}

	// A wrong token gets the API's refusal and no session.
	st, _, page = anon.do("POST", "/console/login", url.Values{"token": {"acme.wrong"}, "csrf": {csrfOf(page)}})
	if st != http.StatusUnauthorized || !strings.Contains(page, "invalid token") {
		t.Errorf("login with a wrong token: %d, want 401 with the API's \"invalid token\"", st)
	}
	// A login without the login form's CSRF value is refused.
	st, _, _ = newClient(t, s).do("POST", "/console/login", url.Values{"token": {acme}, "csrf": {"forged"}})
	if st != http.StatusForbidden {
		t.Errorf("login without the form's CSRF value: %d, want 403", st)
	}

	// The session cookie: HttpOnly, SameSite=Strict, scoped to the console.
	c := newClient(t, s)
	_, _, page = c.do("GET", "/console/login", nil)
	_, h, _ = c.do("POST", "/console/login", url.Values{"token": {acme}, "csrf": {csrfOf(page)}})
	var cookie string
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, "imhook_console=") {
			cookie = sc
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "path=/console/"} {
		if !strings.Contains(strings.ToLower(cookie), strings.ToLower(want)) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if st, h, _ := c.do("GET", "/console/t/acme", nil); st != http.StatusSeeOther || !strings.HasSuffix(h.Get("Location"), "/console/t/acme/") {
		t.Errorf("GET /console/t/acme: %d to %q, want 303 to /console/t/acme/", st, h.Get("Location"))
	}
	_, _, home := c.do("GET", "/console/t/acme/", nil)
	c.csrf = csrfOf(home)
	if strings.Contains(home, acme[len("acme."):]) {
		t.Error("the tenant's page contains its token")
	}

	// Another tenant's pages, actions and JSON: the API's 403, nothing read.
	for _, path := range []string{"/console/t/other/", "/console/t/other/logs", "/console/t/other/logs.json",
		"/console/t/other/playground", "/console/t/other/captures", "/console/t/other/queue", "/console/t/other/kv",
		"/console/t/other/charts/calls.svg"} {
		st, _, body := c.do("GET", path, nil)
		if st != http.StatusForbidden || !strings.Contains(body, "cannot access tenant[other]") {
			t.Errorf("tenant acme GET %s: %d %.200s, want 403 cannot access tenant[other]", path, st, body)
		}
	}
	for _, path := range []string{"/console/t/other/delete", "/console/t/other/settings", "/console/t/other/kv/put"} {
		st, h, _ := c.do("POST", path, url.Values{"csrf": {c.csrf}, "settings": {"{}"}, "key": {"k"}, "value": {"v"}})
		_, _, after := c.do("GET", h.Get("Location"), nil)
		if st != http.StatusSeeOther || !strings.Contains(after, "cannot") {
			t.Errorf("tenant acme POST %s: %d, then %.300s; want the API's refusal", path, st, after)
		}
	}
	if !s.exists("other") {
		t.Fatal("tenant acme's session deleted tenant other")
	}
	// A GET never changes or runs anything: the replay is a POST.
	if st, _, body := c.do("GET", "/console/t/acme/captures/replay", nil); st != http.StatusOK || strings.Contains(body, "replay-result") {
		t.Errorf("GET .../captures/replay: %d, want the captures page without a replay", st)
	}

	// The operator's pages.
	for _, path := range []string{"/console/tenants", "/console/server"} {
		st, _, body := c.do("GET", path, nil)
		if st != http.StatusForbidden || strings.Contains(body, "other") {
			t.Errorf("tenant acme GET %s: %d, want 403 without other tenants' names", path, st)
		}
	}
	st, h, _ = c.do("POST", "/console/tenants", url.Values{"csrf": {c.csrf}, "id": {"sneaky"}})
	if s.exists("sneaky") {
		t.Errorf("tenant acme's session created a tenant (%d %s)", st, h.Get("Location"))
	}

	// CSRF: a POST of the session without its value, or with another
	// Origin, changes nothing.
	op := newClient(t, s)
	op.login(operatorToken)
	st, _, _ = op.do("POST", "/console/tenants", url.Values{"id": {"nocsrf"}})
	if st != http.StatusForbidden || s.exists("nocsrf") {
		t.Errorf("POST without the CSRF value: %d, exists %v; want 403 and no tenant", st, s.exists("nocsrf"))
	}
	st, _, _ = op.do("POST", "/console/tenants", url.Values{"id": {"crossorigin"}, "csrf": {op.csrf}}, "Origin", "http://127.0.0.1:1")
	if st != http.StatusForbidden || s.exists("crossorigin") {
		t.Errorf("POST from another origin: %d, want 403 and no tenant", st)
	}
	st, _, _ = op.do("GET", "/console/tenants", nil, "Host", "evil.example")
	if st != http.StatusForbidden {
		t.Errorf("GET with a rebound Host: %d, want 403", st)
	}
	st, _, page = op.do("POST", "/console/tenants", url.Values{"id": {"made"}, "csrf": {op.csrf}})
	if st != http.StatusCreated || !s.exists("made") || !strings.Contains(page, `id="new-token">made.`) {
		t.Errorf("operator creates a tenant: %d, exists %v", st, s.exists("made"))
	}

	// Logging out ends the session on the server, not only in the browser.
	st, _, _ = op.do("POST", "/console/logout", url.Values{"csrf": {op.csrf}})
	if st != http.StatusSeeOther {
		t.Errorf("logout: %d", st)
	}
	if st, _, _ = op.do("GET", "/console/t/other/logs.json", nil); st != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", st)
	}
}
