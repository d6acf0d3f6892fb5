package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) registry.Backend {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "registry.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
