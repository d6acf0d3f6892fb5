package main

import (
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

func TestCLIKV(t *testing.T) {
	t.Parallel()
	st, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := admintest.Start(t, admin.Options{State: st})
	op := []string{"--admin-url", srv.URL, "--token", srv.OperatorToken}
	tok := tokenRe.FindStringSubmatch(imhook(t, "", append([]string{"tenant", "create", "acme"}, op...)...).want(t, 0).stdout)[1]
	as := []string{"--admin-url", srv.URL, "--token", tok}
	imhook(t, "", append([]string{"kv", "set", "acme", "k", "v"}, as...)...).want(t, 1, "not granted kv", "HTTP 403")
	imhook(t, "", append([]string{"tenant", "update", "acme", "--grants", "kv"}, op...)...).want(t, 0)

	imhook(t, "", append([]string{"kv", "set", "acme", "limit:alice", "5", "--ttl", "1h"}, as...)...).want(t, 0, `wrote "limit:alice" (1 bytes), revision 1`)
	imhook(t, "blob\x00bytes", append([]string{"kv", "set", "acme", "bin", "--file", "-"}, as...)...).want(t, 0, "(10 bytes)")
	imhook(t, "", append([]string{"kv", "set", "acme", "limit:alice", "6", "--if-absent"}, as...)...).want(t, 1, "key exists", "HTTP 409")
	r := imhook(t, "", append([]string{"kv", "get", "acme", "bin"}, as...)...).want(t, 0)
	if r.stdout != "blob\x00bytes" {
		t.Fatalf("get printed %q", r.stdout)
	}
	imhook(t, "", append([]string{"kv", "list", "acme", "--prefix", "limit:"}, op...)...).want(t, 0, `"limit:alice"`, "1 keys; the tenant holds 2 of 10000 keys")
	imhook(t, "", append([]string{"kv", "list", "acme", "--limit", "1"}, as...)...).want(t, 0, `"bin"`, "more: imhook kv list acme --cursor Ymlu")
	imhook(t, "", append([]string{"kv", "del", "acme", "bin"}, as...)...).want(t, 0, `deleted "bin"`)
	imhook(t, "", append([]string{"kv", "get", "acme", "bin"}, as...)...).want(t, 1, "key not found (HTTP 404)")
	imhook(t, "", append([]string{"kv", "get", "acme", "!!", "--base64"}, as...)...).want(t, 1, "--base64 wants a base64 key")
	imhook(t, "", append([]string{"kv", "set", "acme", "k"}, as...)...).want(t, 2, "give a value, or --file")
	imhook(t, "", append([]string{"kv", "get", "other", "k"}, as...)...).want(t, 1, "cannot access tenant[other]")
}
