package bolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// A tenant uploads a plugin version, activates it, uploads a fix, activates
// that, and rolls back.
func Example() {
	dir, _ := os.MkdirTemp("", "registry")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := bolt.Open(filepath.Join(dir, "registry.db"), boltdb.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := registry.New(ctx, store, registry.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		fmt.Println(err)
		return
	}
	// In imhook the admin API gets blob and info from the sandbox's
	// Engine.Inspect; the suite's fake blobs stand in here.
	for _, build := range []string{"v1", "v2"} {
		blob, info := registrytest.Blob(build, registrytest.CmdBeforeSend)
		if _, _, err := r.AddVersion(ctx, "acme", "moderation", blob, info, registry.AnyRevision); err != nil {
			fmt.Println(err)
			return
		}
		if _, err := r.Activate(ctx, "acme", "moderation", info.Hash, registry.AnyRevision); err != nil {
			fmt.Println(err)
			return
		}
	}
	t, err := r.Rollback(ctx, "acme", "moderation", registry.AnyRevision)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, v1 := registrytest.Blob("v1", registrytest.CmdBeforeSend)
	for _, b := range t.Chain(registrytest.CmdBeforeSend) {
		fmt.Println(b.Plugin, b.Version.Hash == v1.Hash)
	}
	_, err = r.Rollback(ctx, "acme", "moderation", registry.AnyRevision)
	fmt.Println(err)
	// Output:
	// moderation true
	// tenant[acme] plugin[moderation]: no earlier active version to roll back to: not found
}
