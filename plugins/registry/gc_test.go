package registry_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// sharedStore pretends a bbolt store is shared between processes, the way
// a Redis store is, to exercise the grace period for fresh blobs.
type sharedStore struct{ *bolt.Backend }

func (sharedStore) Shared() bool { return true }

func TestGarbageGraceOnSharedBackend(t *testing.T) {
	t.Parallel()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "registry.db"), boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b := sharedStore{s}
	ctx := t.Context()
	orphan, info := registrytest.Blob("written by another process, not yet committed")
	if err := b.PutBlob(ctx, "acme", info.Hash, orphan); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		grace time.Duration
		kept  bool
	}{
		{"default grace keeps a fresh blob", 0, true},
		{"long grace keeps it", time.Hour, true},
		{"grace over", time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := registry.New(ctx, b, registry.Options{BlobGrace: tc.grace}); err != nil {
				t.Fatal(err)
			}
			_, err := b.Blob(ctx, "acme", info.Hash)
			if kept := err == nil; kept != tc.kept {
				t.Fatalf("blob kept = %v, want %v (err %v)", kept, tc.kept, err)
			}
		})
	}
}
