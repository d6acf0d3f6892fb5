package tenants

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// TestHeldVersions checks that the newest upload and the rollback target are
// loaded ahead of time, so activating either needs no load: with blob reads
// failing, both switches still happen.
func TestHeldVersions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyBlobs{Backend: bs}
	d, reg := newTestDirectory(t, store)
	echo, err := os.ReadFile("../../plugins/testdata/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	// The same module with a custom section: another version.
	v2wasm := append(slices.Clone(echo), 0, 5, 4, 't', 'e', 's', 't')
	add := func(wasm []byte) string {
		sum := sha256.Sum256(wasm)
		hash := hex.EncodeToString(sum[:])
		info := registry.VersionInfo{Hash: hash, Size: int64(len(wasm)), ABIVersion: 1,
			Commands: []string{openim.AfterGroupMsgRead.String(), openim.BeforeSendSingleMsg.String()}}
		if _, _, err := reg.AddVersion(ctx, "acme", "echo", wasm, info, registry.AnyRevision); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	if _, _, err := reg.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	v1 := add(echo)
	if _, err := reg.Activate(ctx, "acme", "echo", v1, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v2 := add(v2wasm)
	waitPlugin := func(what string, ok func(PluginStatus) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _ := d.Stats("acme")
			if len(st.Plugins) == 1 && ok(st.Plugins[0]) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitPlugin("v2 held", func(p PluginStatus) bool { return p.Serving == v1 && slices.Equal(p.Held, []string{v2}) })

	store.down.Store(true) // no blob can be read from now on
	t2, err := reg.Activate(ctx, "acme", "echo", v2, registry.AnyRevision)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err := d.Await(ctx, "acme", t2.Revision); err != nil || st.Plugins[0].Serving != v2 {
		t.Fatalf("after activating the held v2 with blob reads failing: %+v, %v; want v2 serving", st, err)
	}
	waitPlugin("v1 held as the rollback target", func(p PluginStatus) bool { return slices.Equal(p.Held, []string{v1}) })
	t3, err := reg.Rollback(ctx, "acme", "echo", registry.AnyRevision)
	if err != nil {
		t.Fatal(err)
	}
	if st, _, err := d.Await(ctx, "acme", t3.Revision); err != nil || st.Plugins[0].Serving != v1 || st.Plugins[0].LoadError != "" {
		t.Fatalf("after rolling back with blob reads failing: %+v, %v; want v1 serving", st, err)
	}
}
