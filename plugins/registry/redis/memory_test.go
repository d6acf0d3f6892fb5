package redis_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// TestMemoryFootprint measures what one tenant costs in Redis (MEMORY
// USAGE), for the sizing table of docs/deploy.md: a tenant with a typical
// settings document and one plugin keeping 5 versions of a 2 MiB module
// (the size of a Go guest).
func TestMemoryFootprint(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	b := open(t, redisdb.Config{Address: srv.Addr(), KeyPrefix: "mem"})
	r, err := registry.New(ctx, unshared{b}, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]string{}
	for i := range 20 {
		cfg["key"+strconv.Itoa(i)] = strings.Repeat("v", 40)
	}
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{Config: cfg, Grants: []string{"walltime"}}); err != nil {
		t.Fatal(err)
	}
	const size = 2 << 20
	var hashes []string
	for range 6 { // the oldest is pruned: 5 kept
		blob := make([]byte, size)
		_, _ = rand.Read(blob)
		sum := sha256.Sum256(blob)
		_, info := registrytest.Blob("x", registrytest.CmdBeforeSend, registrytest.CmdAfterSend)
		info.Hash, info.Size = hex.EncodeToString(sum[:]), size
		if _, _, err := r.AddVersion(ctx, "acme", "mod", blob, info, registry.AnyRevision); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Activate(ctx, "acme", "mod", info.Hash, registry.AnyRevision); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, info.Hash)
	}
	usage := func(key string) int {
		t.Helper()
		got, err := srv.Do("MEMORY", "USAGE", key)
		if err != nil || !strings.HasPrefix(got, ":") {
			t.Fatalf("MEMORY USAGE %s = %q, %v", key, got, err)
		}
		n, _ := strconv.Atoi(got[1:])
		return n
	}
	doc := usage("{mem}:t:acme")
	index := usage("{mem:b:acme}:index")
	blob := usage("{mem:b:acme}:" + hashes[5])
	if got, _ := srv.Do("EXISTS", "{mem:b:acme}:"+hashes[0]); got != ":0" {
		t.Fatalf("pruned version's blob still stored (%s)", got)
	}
	if blob < size {
		t.Fatalf("blob key uses %d bytes, less than the module's %d", blob, size)
	}
	t.Logf("tenant document %d B, blob index %d B, one 2 MiB blob %d B (overhead %d B)", doc, index, blob, blob-size)
}
