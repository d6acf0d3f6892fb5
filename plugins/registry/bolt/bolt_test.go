package bolt_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	registrytest.Run(t, func(t *testing.T) registry.Backend {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "registry.db"), boltdb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	s, err := bolt.Open(path, boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// boltdb's tests cover the file's mode and the other ways opening fails.
	t.Run("locked", func(t *testing.T) {
		_, err := bolt.Open(path, boltdb.Options{Timeout: 50 * time.Millisecond})
		if want := "registry file " + path + " is locked by another imhook process"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("second Open = %v, want %q", err, want)
		}
	})

	// Data and the revision survive a reopen.
	ctx := t.Context()
	r, err := registry.New(ctx, s, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, token, err := r.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	data, info := registrytest.Blob("v1")
	if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, 0); err != nil {
		t.Fatal(err)
	}
	if tn, err = r.Activate(ctx, "acme", "mod", info.Hash, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); err == nil {
		t.Fatal("Get works after Close")
	}
	s, err = bolt.Open(path, boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Get(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := got.Plugin("mod"); p.Active != info.Hash || got.Revision != tn.Revision || !got.VerifyToken(token) {
		t.Fatalf("after reopen: %+v, want active %s at revision %d", got, info.Hash, tn.Revision)
	}
	if rev, _ := s.Revision(ctx); rev != tn.Revision {
		t.Fatalf("revision after reopen %d, want %d", rev, tn.Revision)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		setup func(path string) error
		want  string
	}{
		{
			name: "other format",
			setup: func(path string) error {
				return withDB(path, func(tx *bbolt.Tx) error {
					b, err := tx.CreateBucket([]byte("meta"))
					if err != nil {
						return err
					}
					return b.Put([]byte("format"), []byte("2"))
				})
			},
			want: `store format is "2", this imhook reads format "1"`,
		},
		{
			name: "someone else's bbolt file",
			setup: func(path string) error {
				return withDB(path, func(tx *bbolt.Tx) error {
					_, err := tx.CreateBucket([]byte("widgets"))
					return err
				})
			},
			want: "bucket[widgets] found but no meta bucket: not a registry file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".db")
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, boltdb.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open error %q, want it to name the file and say %q", err, tc.want)
			}
		})
	}
}

func withDB(path string, fn func(tx *bbolt.Tx) error) error {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(fn)
}
