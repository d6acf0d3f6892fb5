package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
)

// TestSecrets: a tenant writes, lists and deletes its own secrets and no one
// else's; no answer of any route holds a value, and the errors about a
// body or a value quote none of it.
func TestSecrets(t *testing.T) {
	e := setup(t, admin.Options{})
	const value = "sk-live-77f0c9d2b1a4"
	var bodies []string
	keep := func(r response) response { bodies = append(bodies, string(r.body)); return r }

	var set admin.SecretSet
	keep(e.a.do("PUT", "/v1/tenants/a/secrets/api_key", map[string]string{"value": value}, "")).want(t, http.StatusOK).decode(t, &set)
	if set.Name != "api_key" || set.Revision == 0 {
		t.Fatalf("set: %+v", set)
	}
	keep(e.op.do("PUT", "/v1/tenants/a/secrets/other", map[string]string{"value": value + "2"}, "")).want(t, http.StatusOK)
	var list admin.SecretList
	keep(e.a.do("GET", "/v1/tenants/a/secrets", nil, "")).want(t, http.StatusOK).decode(t, &list)
	if strings.Join(list.Names, ",") != "api_key,other" {
		t.Fatalf("list: %+v", list)
	}
	// Tenant b reaches none of a's secrets.
	keep(e.b.do("GET", "/v1/tenants/a/secrets", nil, "")).want(t, http.StatusForbidden)
	keep(e.b.do("PUT", "/v1/tenants/a/secrets/api_key", map[string]string{"value": "x"}, "")).want(t, http.StatusForbidden)
	keep(e.b.do("DELETE", "/v1/tenants/a/secrets/api_key", nil, "")).want(t, http.StatusForbidden)
	keep(e.b.do("GET", "/v1/tenants/b/secrets", nil, "")).want(t, http.StatusOK)
	// Bad bodies and values: the errors quote nothing of them.
	for _, body := range []string{`{"value":"` + value + `"`, `{"value":"` + value + `","x":1}`, `["` + value + `"]`} {
		r := keep(e.a.do("PUT", "/v1/tenants/a/secrets/k", body, "application/json")).want(t, http.StatusBadRequest)
		if !strings.Contains(r.errMsg(t), `want {"value"`) {
			t.Errorf("bad body %s: %s", body, r.body)
		}
	}
	keep(e.a.do("PUT", "/v1/tenants/a/secrets/k", map[string]string{"value": value + "\n"}, "")).want(t, http.StatusBadRequest)
	keep(e.a.do("PUT", "/v1/tenants/a/secrets/k", map[string]string{"value": ""}, "")).want(t, http.StatusBadRequest)
	keep(e.a.do("PUT", "/v1/tenants/a/secrets/bad%20name", map[string]string{"value": "v"}, "")).want(t, http.StatusBadRequest)
	// Every read of the tenant.
	keep(e.a.do("GET", "/v1/tenants/a", nil, "")).want(t, http.StatusOK)
	keep(e.a.do("GET", "/v1/tenants/a/settings", nil, "")).want(t, http.StatusOK)
	keep(e.op.do("GET", "/v1/tenants", nil, "")).want(t, http.StatusOK)
	keep(e.a.do("DELETE", "/v1/tenants/a/secrets/other", nil, "")).want(t, http.StatusNoContent)
	keep(e.a.do("DELETE", "/v1/tenants/a/secrets/other", nil, "")).want(t, http.StatusNotFound)
	for _, b := range bodies {
		if strings.Contains(b, value) {
			t.Fatalf("an answer holds a secret's value: %s", b)
		}
	}
}
