package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

func TestTenantCRUD(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	op := e.op

	t.Run("create with settings", func(t *testing.T) {
		op.t = t
		var out admin.TenantToken
		op.do("POST", "/v1/tenants", map[string]any{
			"id":       "acme",
			"settings": map[string]any{"config": map[string]string{"apiKey": "k1"}, "failure": map[string]any{"closed": true}},
		}, "").want(t, 201).decode(t, &out)
		if out.Tenant.Settings.Config["apiKey"] != "k1" || !out.Tenant.Settings.Failure.Closed || out.Tenant.Revision == 0 {
			t.Fatalf("created %+v", out.Tenant)
		}
	})
	for _, tc := range []struct {
		name   string
		body   any
		ctype  string
		status int
		msg    string
	}{
		{"duplicate", map[string]any{"id": "acme"}, "", 409, "tenant[acme]: already exists"},
		{"bad id", map[string]any{"id": "Acme!"}, "", 400, `tenant["Acme!"]: want 1-63 of [a-z0-9_-], starting with a letter or digit: invalid`},
		{"bad settings", map[string]any{"id": "x", "settings": map[string]any{"grants": []string{"network"}}}, "", 400,
			`tenant[x]: settings: grant["network"]: want one of walltime, nanotime, random, http, kv: invalid`},
		{"unknown field", map[string]any{"id": "x", "name": "X"}, "", 400, `bad JSON: json: unknown field "name"`},
		{"bad JSON", `{"id":`, "application/json", 400, "bad JSON: unexpected EOF"},
		{"two values", `{"id":"x"} {}`, "application/json", 400, "bad JSON: more than one value in the request body"},
		{"empty body", "", "application/json", 400, "bad JSON: the request body is empty"},
		{"form post", `id=x`, "application/x-www-form-urlencoded", 415,
			"content type[application/x-www-form-urlencoded] not accepted here; send Content-Type: application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.t = t
			r := op.do("POST", "/v1/tenants", tc.body, tc.ctype).want(t, tc.status)
			if got := r.errMsg(t); got != tc.msg {
				t.Fatalf("error %q, want %q", got, tc.msg)
			}
		})
	}
	t.Run("list", func(t *testing.T) {
		op.t = t
		var out admin.TenantList
		op.do("GET", "/v1/tenants", nil, "").want(t, 200).decode(t, &out)
		var ids []string
		for _, tn := range out.Tenants {
			ids = append(ids, tn.ID)
		}
		if got := strings.Join(ids, ","); got != "a,acme,b" {
			t.Fatalf("tenants %s", got)
		}
	})
	t.Run("patch merges settings", func(t *testing.T) {
		op.t = t
		var out admin.Tenant
		op.do("PATCH", "/v1/tenants/acme", map[string]any{
			"settings": map[string]any{"config": map[string]any{"apiKey": nil, "region": "eu"}, "commands": []string{"callbackBeforeSendSingleMsgCommand"}},
		}, "application/merge-patch+json").want(t, 200).decode(t, &out)
		s := out.Settings
		if _, ok := s.Config["apiKey"]; ok || s.Config["region"] != "eu" || !s.Failure.Closed || len(s.Commands) != 1 {
			t.Fatalf("settings after patch %+v", s)
		}
	})
	t.Run("patch refuses other fields", func(t *testing.T) {
		op.t = t
		r := op.do("PATCH", "/v1/tenants/acme", map[string]any{"id": "other"}, "").want(t, 400)
		if got := r.errMsg(t); got != "field[id] cannot be patched: only settings can (plugins have their own routes)" {
			t.Fatal(got)
		}
		r = op.do("PATCH", "/v1/tenants/acme", map[string]any{"settings": map[string]any{"colour": "red"}}, "").want(t, 400)
		if got := r.errMsg(t); got != `bad JSON: settings: json: unknown field "colour"` {
			t.Fatal(got)
		}
	})
	t.Run("delete", func(t *testing.T) {
		op.t = t
		op.do("DELETE", "/v1/tenants/acme", nil, "").want(t, 200)
		r := op.do("GET", "/v1/tenants/acme", nil, "").want(t, 404)
		if got := r.errMsg(t); got != "tenant[acme]: not found" {
			t.Fatal(got)
		}
		op.do("DELETE", "/v1/tenants/acme", nil, "").want(t, 404)
	})
}

func TestSettings(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	const path = "/v1/tenants/a/settings"

	get := func(c client) (registry.Settings, string) {
		var s registry.Settings
		r := c.do("GET", path, nil, "").want(c.t, 200)
		r.decode(c.t, &s)
		return s, r.header.Get("ETag")
	}

	t.Run("if-match", func(t *testing.T) {
		op := e.op
		op.t = t
		s, etag := get(op)
		if etag == "" {
			t.Fatal("no ETag")
		}
		s.Limits.MemoryPages = 128
		r := op.do("PUT", path, s, "", "If-Match", etag).want(t, 200)
		next := r.header.Get("ETag")
		if next == etag {
			t.Fatal("ETag did not change")
		}
		// The old ETag is now stale.
		s.Limits.MemoryPages = 256
		r = op.do("PUT", path, s, "", "If-Match", etag).want(t, http.StatusPreconditionFailed)
		if got := r.errMsg(t); !strings.HasPrefix(got, "tenant[a]: revision is ") || !strings.HasSuffix(got, "revision conflict; read it again and retry with the new ETag") {
			t.Fatal(got)
		}
		r = op.do("PUT", path, s, "", "If-Match", "yesterday").want(t, 400)
		if got := r.errMsg(t); got != `If-Match[yesterday]: want an ETag from this API, such as "42"` {
			t.Fatal(got)
		}
		// Without If-Match the operator replaces unconditionally.
		op.do("PUT", path, s, "").want(t, 200)
		if got, _ := get(op); got.Limits.MemoryPages != 256 {
			t.Fatalf("memory_pages %d", got.Limits.MemoryPages)
		}
	})

	t.Run("tenant token", func(t *testing.T) {
		a := e.a
		a.t = t
		s, etag := get(a)
		s.Config = map[string]string{"greeting": "hi"}
		s.Failure = registry.Policy{Closed: true, ErrCode: 7001, ErrMsg: "try later"}
		a.do("PUT", path, s, "", "If-Match", etag).want(t, 200)

		for _, tc := range []struct {
			name   string
			change func(*registry.Settings)
			msg    string
		}{
			{"limits", func(s *registry.Settings) { s.Limits.MemoryPages = 4096 }, "token of tenant[a] cannot change limits: only the operator can"},
			{"grants", func(s *registry.Settings) { s.Grants = []string{"random"} }, "token of tenant[a] cannot change grants: only the operator can"},
			{"both and keep", func(s *registry.Settings) { s.Limits.MaxInstances = 99; s.KeepVersions = 50 },
				"token of tenant[a] cannot change limits, keep_versions: only the operator can"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a.t = t
				s, _ := get(a)
				tc.change(&s)
				if got := a.do("PUT", path, s, "").want(t, 403).errMsg(t); got != tc.msg {
					t.Fatal(got)
				}
				patch := map[string]any{"settings": s}
				if got := a.do("PATCH", "/v1/tenants/a", patch, "").want(t, 403).errMsg(t); got != tc.msg {
					t.Fatal(got)
				}
			})
		}
		// Tenant b cannot even read a's settings.
		b := e.b
		b.t = t
		b.do("GET", path, nil, "").want(t, 403)
	})

	t.Run("invalid", func(t *testing.T) {
		op := e.op
		op.t = t
		r := op.do("PUT", path, map[string]any{"limits": map[string]any{"memory_pages": 40000}}, "").want(t, 400)
		if got := r.errMsg(t); got != "tenant[a]: settings: limits.memory_pages[40000]: want 0 (the default, 512) or 1 to 32767: invalid" {
			t.Fatal(got)
		}
		op.do("PUT", path, `{"limits":[]}`, "application/json").want(t, 400)
	})
}

func TestStats(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{Stats: func(id string) (any, bool) {
		if id == "a" {
			return map[string]int{"calls": 3}, true
		}
		return nil, false
	}})
	var out struct {
		Tenant string         `json:"tenant"`
		Stats  map[string]int `json:"stats"`
	}
	e.a.do("GET", "/v1/tenants/a/stats", nil, "").want(t, 200).decode(t, &out)
	if out.Tenant != "a" || out.Stats["calls"] != 3 {
		t.Fatalf("stats %+v", out)
	}
	out.Stats = nil
	e.b.do("GET", "/v1/tenants/b/stats", nil, "").want(t, 200).decode(t, &out)
	if out.Tenant != "b" || out.Stats != nil {
		t.Fatalf("stats %+v", out)
	}
	e.op.do("GET", "/v1/tenants/zz/stats", nil, "").want(t, 404)
}
