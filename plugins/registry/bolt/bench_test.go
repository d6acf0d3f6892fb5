package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// BenchmarkRegistry measures the admin-path operations on a bbolt file with
// fsync on: reading a tenant (what a reload does per changed tenant) and an
// activation (one write transaction).
func BenchmarkRegistry(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "registry.db"), boltdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	r, err := registry.New(ctx, s, registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		b.Fatal(err)
	}
	var hashes []string
	for i := range 2 {
		data, info := registrytest.Blob(fmt.Sprint("v", i))
		if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, 0); err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, info.Hash)
	}
	b.Run("Tenant", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Tenant(ctx, "acme"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Activate", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := r.Activate(ctx, "acme", "mod", hashes[i%2], 0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
