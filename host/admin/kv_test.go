package admin_test

import (
	"encoding/base64"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

func k64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func kvSetup(t *testing.T) *env {
	t.Helper()
	st, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := setup(t, admin.Options{State: st})
	e.op.t = t
	for _, id := range []string{"a", "b"} {
		e.op.do("PATCH", "/v1/tenants/"+id, map[string]any{"settings": map[string]any{"grants": []string{"kv"}}}, "").want(t, 200)
	}
	return e
}

// TestKVWriteNeedsGrant: a tenant not granted kv cannot fill the store
// through the API; it may read and delete, and the operator may seed it.
func TestKVWriteNeedsGrant(t *testing.T) {
	t.Parallel()
	e := kvSetup(t)
	c := client{t, e.srv.URL, e.createTenant(t, "c")}
	e.op.t = t
	r := c.do("PUT", "/v1/tenants/c/kv/"+k64("k"), map[string]any{"value": []byte("v")}, "").want(t, 403)
	if !strings.Contains(r.errMsg(t), "tenant[c] is not granted kv, so its token cannot write state; the operator grants it (imhook tenant update --grants kv)") {
		t.Fatal(string(r.body))
	}
	e.op.do("PUT", "/v1/tenants/c/kv/"+k64("k"), map[string]any{"value": []byte("seed")}, "").want(t, 200)
	c.do("GET", "/v1/tenants/c/kv/"+k64("k"), nil, "").want(t, 200)
	c.do("GET", "/v1/tenants/c/kv", nil, "").want(t, 200)
	c.do("DELETE", "/v1/tenants/c/kv/"+k64("k"), nil, "").want(t, 204)
}

// TestKVIsolation: a tenant's token reaches only its own keys, whatever the
// key, prefix or cursor; the operator reaches every tenant's.
func TestKVIsolation(t *testing.T) {
	t.Parallel()
	e := kvSetup(t)
	a, b, op := e.a, e.b, e.op
	a.t, b.t, op.t = t, t, t
	secret := map[string]any{"value": []byte("a's secret")}
	for _, k := range []string{"x", "../b/x", "{b}:v:x", "\x00", "\xff\xfe"} {
		a.do("PUT", "/v1/tenants/a/kv/"+k64(k), secret, "").want(t, 200)
	}
	// b's token on a's path: refused before anything is read.
	for _, req := range [][2]string{{"GET", "/v1/tenants/a/kv/" + k64("x")}, {"PUT", "/v1/tenants/a/kv/" + k64("x")}, {"DELETE", "/v1/tenants/a/kv/" + k64("x")}, {"GET", "/v1/tenants/a/kv"}} {
		r := b.do(req[0], req[1], map[string]any{"value": []byte("b")}, "").want(t, http.StatusForbidden)
		if !strings.Contains(r.errMsg(t), "token of tenant[b] cannot access tenant[a]") {
			t.Fatalf("%s %s: %s", req[0], req[1], r.body)
		}
	}
	e.anon.do("GET", "/v1/tenants/a/kv", nil, "").want(t, http.StatusUnauthorized)
	// On its own path, b sees none of a's keys by any key, prefix or cursor.
	for _, k := range []string{"x", "../b/x", "{b}:v:x", "\x00", "\xff\xfe"} {
		b.do("GET", "/v1/tenants/b/kv/"+k64(k), nil, "").want(t, 404)
		var l admin.KVList
		b.do("GET", "/v1/tenants/b/kv?prefix="+k64(k)+"&cursor="+k64(k), nil, "").want(t, 200).decode(t, &l)
		if len(l.Keys) != 0 || l.Usage.Keys != 0 {
			t.Fatalf("b lists %+v", l)
		}
	}
	var l admin.KVList
	op.do("GET", "/v1/tenants/a/kv?limit=2", nil, "").want(t, 200).decode(t, &l)
	if len(l.Keys) != 2 || l.Next == "" || l.Usage.Keys != 5 || l.Keys[0].Key != k64("\x00") || l.Keys[1].Text != "../b/x" {
		t.Fatalf("operator lists %+v", l)
	}
	var l2 admin.KVList
	op.do("GET", "/v1/tenants/a/kv?limit=10&cursor="+l.Next, nil, "").want(t, 200).decode(t, &l2)
	if len(l2.Keys) != 3 || l2.Next != "" {
		t.Fatalf("second page %+v", l2)
	}
	var got admin.KVEntry
	a.do("GET", "/v1/tenants/a/kv/"+k64("x"), nil, "").want(t, 200).decode(t, &got)
	if string(got.Value) != "a's secret" || got.Text != "a's secret" || got.Revision == 0 {
		t.Fatalf("get %+v", got)
	}
	// Deleting tenant a deletes its state; b's is untouched.
	b.do("PUT", "/v1/tenants/b/kv/"+k64("x"), map[string]any{"value": []byte("b's")}, "").want(t, 200)
	op.do("DELETE", "/v1/tenants/a", nil, "").want(t, 200)
	e.createTenant(t, "a")
	var l3 admin.KVList
	op.do("GET", "/v1/tenants/a/kv", nil, "").want(t, 200).decode(t, &l3)
	if len(l3.Keys) != 0 || l3.Usage.Keys != 0 {
		t.Fatalf("a recreated sees the deleted tenant's keys: %+v", l3)
	}
	b.do("GET", "/v1/tenants/b/kv/"+k64("x"), nil, "").want(t, 200)
}

func TestKVHostileRequests(t *testing.T) {
	t.Parallel()
	e := kvSetup(t)
	a := e.a
	a.t = t
	big := strings.Repeat("k", 600)
	for _, tc := range []struct {
		name, method, path string
		body               any
		ctype              string
		status             int
		msg                string
	}{
		{"key not base64url", "GET", "/v1/tenants/a/kv/a+b", nil, "", 400, "key[a+b]: not base64url"},
		{"padded key", "GET", "/v1/tenants/a/kv/" + k64("x") + "=", nil, "", 400, "not base64url"},
		{"prefix not base64url", "GET", "/v1/tenants/a/kv?prefix=%2F%2F%2F", nil, "", 400, "prefix[///]: not base64url"},
		{"bad limit", "GET", "/v1/tenants/a/kv?limit=5000", nil, "", 400, "limit[5000]: want 1 to 1000"},
		{"huge key", "PUT", "/v1/tenants/a/kv/" + k64(big), map[string]any{"value": []byte("v")}, "", 422, "key of 600 bytes > max_kv_key_bytes[512]"},
		{"value not base64", "PUT", "/v1/tenants/a/kv/" + k64("k"), `{"value":"not base64!"}`, "application/json", 400, "bad JSON"},
		{"unknown field", "PUT", "/v1/tenants/a/kv/" + k64("k"), `{"value":"","tenant":"b"}`, "application/json", 400, `unknown field "tenant"`},
		{"oversized body", "PUT", "/v1/tenants/a/kv/" + k64("k"), map[string]any{"value": make([]byte, 100<<10)}, "", 413, "over the"},
		{"value over quota", "PUT", "/v1/tenants/a/kv/" + k64("k"), map[string]any{"value": make([]byte, 64<<10+1)}, "", 422, "max_kv_value_bytes[65536]"},
		{"negative ttl", "PUT", "/v1/tenants/a/kv/" + k64("k"), map[string]any{"value": []byte("v"), "ttl_ms": -1}, "", 400, "ttl_ms[-1]"},
		{"form body", "PUT", "/v1/tenants/a/kv/" + k64("k"), "value=x", "application/x-www-form-urlencoded", 415, "content type"},
		{"both conditions", "PUT", "/v1/tenants/a/kv/" + k64("k"), map[string]any{"value": []byte("v"), "if_absent": true, "if_revision": 3}, "", 400, "give one of them"},
		{"missing key", "DELETE", "/v1/tenants/a/kv/" + k64("nope"), nil, "", 404, "key not found"},
		{"unknown tenant", "GET", "/v1/tenants/zz/kv", nil, "", 403, "cannot access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.t = t
			r := a.do(tc.method, tc.path, tc.body, tc.ctype).want(t, tc.status)
			if msg := r.errMsg(t); !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %q, want it to contain %q", msg, tc.msg)
			}
		})
	}
	a.t = t
	var w admin.KVWritten
	a.do("PUT", "/v1/tenants/a/kv/"+k64("c"), map[string]any{"value": []byte("1"), "if_absent": true}, "").want(t, 200).decode(t, &w)
	a.do("PUT", "/v1/tenants/a/kv/"+k64("c"), map[string]any{"value": []byte("2"), "if_absent": true}, "").want(t, 409)
	a.do("PUT", "/v1/tenants/a/kv/"+k64("c"), map[string]any{"value": []byte("2"), "if_revision": w.Revision + 5}, "").want(t, 409)
	a.do("PUT", "/v1/tenants/a/kv/"+k64("c"), map[string]any{"value": []byte("2"), "if_revision": w.Revision}, "").want(t, 200)
	e.op.t = t
	e.op.do("GET", "/v1/tenants/nobody/kv", nil, "").want(t, 404)
}

func TestKVWithoutState(t *testing.T) {
	t.Parallel()
	e := setup(t, admin.Options{})
	e.a.t = t
	r := e.a.do("GET", "/v1/tenants/a/kv", nil, "").want(t, 501)
	if !strings.Contains(r.errMsg(t), "no state store") {
		t.Fatal(string(r.body))
	}
}
