package tenants

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// newTestDirectory returns a directory, not started, over a registry on
// backend (a fresh bbolt file when nil) and a sandbox engine; all are closed
// at the end of the test.
func newTestDirectory(t *testing.T, backend registry.Backend) (*Directory, *registry.Registry) {
	t.Helper()
	if backend == nil {
		b, err := bolt.Open(filepath.Join(t.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		backend = b
	}
	reg, err := registry.New(t.Context(), backend, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	eng, err := plugins.NewEngine(t.Context(), plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	d, err := New(Options{Registry: reg, Engine: eng})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d, reg
}
