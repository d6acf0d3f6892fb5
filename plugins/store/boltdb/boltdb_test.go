package boltdb_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/boltdb"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := boltdb.Open(path, "state", boltdb.Options{NoSync: true})
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
	if !db.NoSync {
		t.Fatal("Options.NoSync not passed to bbolt")
	}

	start := time.Now()
	_, err = boltdb.Open(path, "state", boltdb.Options{Timeout: 50 * time.Millisecond})
	want := "state file " + path + " is locked by another imhook process (waited 50ms); stop it or use another file"
	if err == nil || err.Error() != want {
		t.Fatalf("second Open = %v, want %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("second Open gave up after %s, want about its 50ms timeout", d)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = boltdb.Open(path, "state", boltdb.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	db.Close()
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"not a bbolt file", garbage, "queue file " + garbage + " is not a queue bbolt file: "},
		{"missing directory", filepath.Join(dir, "missing", "queue.db"), "open queue file " + filepath.Join(dir, "missing", "queue.db") + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := boltdb.Open(tc.path, "queue", boltdb.Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Open = %q, want it to start with %q", err, tc.want)
			}
		})
	}
}
