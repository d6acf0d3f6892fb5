package host_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/imhook/imhook/host"
)

// TestPprofOperatorOnly: /debug/pprof/ shows every tenant's work, so it is
// off unless admin.pprof is set, and then serves the operator token only:
// not a tenant's token, not the metrics token, not a forged one.
func TestPprofOperatorOnly(t *testing.T) {
	const operator, scraper = "operator-token-0123456789", "metrics-token-0123456789"
	get := func(e *env, path, token string) result {
		req, _ := http.NewRequest("GET", "http://"+e.srv.AdminAddr().String()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return do(req)
	}

	off := start(t, func(c *host.Config) { c.Admin.Token = operator })
	if r := get(off, "/debug/pprof/heap", operator); r.status != 404 || !bytes.Contains(r.body, []byte("admin.pprof")) {
		t.Errorf("profiling off: %d %s, want 404 saying how to turn it on", r.status, r.body)
	}

	e := start(t, func(c *host.Config) { c.Admin.Token, c.Admin.MetricsToken, c.Admin.Pprof = operator, scraper, true })
	status, body := e.admin("POST", "/v1/tenants", operator, "application/json", []byte(`{"id":"t"}`))
	var created struct{ Token string }
	if status/100 != 2 || json.Unmarshal(body, &created) != nil || created.Token == "" {
		t.Fatalf("create tenant: %d %s", status, body)
	}
	for _, token := range []string{"", created.Token, scraper, operator + "x", "m." + operator} {
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=2", "/debug/pprof/profile?seconds=1"} {
			if r := get(e, path, token); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("token %q: GET %s = %d %s, want 401 with a challenge", token, path, r.status, r.body)
			}
		}
	}
	if r := get(e, "/debug/pprof/profile?seconds=3600", operator); r.status != 400 || !bytes.Contains(r.body, []byte("seconds must be")) {
		t.Errorf("an hour-long profile: %d %s, want 400", r.status, r.body)
	}
	req, _ := http.NewRequest("DELETE", "http://"+e.srv.AdminAddr().String()+"/debug/pprof/heap", nil)
	req.Header.Set("Authorization", "Bearer "+operator)
	if r := do(req); r.status != 405 {
		t.Errorf("DELETE a profile: %d %s, want 405", r.status, r.body)
	}

	// The operator gets a real profile: gzipped protobuf, as go tool pprof reads.
	r := get(e, "/debug/pprof/profile?seconds=1", operator)
	if r.status != 200 {
		t.Fatalf("operator CPU profile: %d %s", r.status, r.body)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("the CPU profile is not gzipped: %v (%d bytes)", err, len(r.body))
	}
	if raw, err := io.ReadAll(zr); err != nil || len(raw) == 0 {
		t.Fatalf("the CPU profile does not decompress: %v", err)
	}
	if r := get(e, "/debug/pprof/goroutine?debug=1", operator); r.status != 200 || !bytes.Contains(r.body, []byte("goroutine profile")) {
		t.Errorf("operator goroutine dump: %d %.200s", r.status, r.body)
	}
}
