package bolt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

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

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("file mode %o, want 600", mode)
	}

	t.Run("locked", func(t *testing.T) {
		_, err := bolt.Open(path, bolt.Options{Timeout: 50 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "is locked by another imhook process") {
			t.Fatalf("second Open = %v, want the lock error", err)
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
	s, err = bolt.Open(path, bolt.Options{})
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
			name: "not a bbolt file",
			setup: func(path string) error {
				return os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600)
			},
			want: "is not a registry bbolt file",
		},
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
		{
			name:  "missing directory",
			setup: func(string) error { return nil },
			want:  "open registry file",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"), "registry.db")
			if tc.name != "missing directory" {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{Timeout: 100 * time.Millisecond})
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
