package boltqueue

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/queue/queuetest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, queuetest.Backend{New: func(t *testing.T) func() queue.Store {
		path := filepath.Join(t.TempDir(), "queue.db")
		return func() queue.Store {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}})
}

// TestDelayedDueOrder: due retries are claimed earliest first, and one not
// yet due is not, however many are waiting.
func TestDelayedDueOrder(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	for i := range 3 {
		if err := s.Enqueue(ctx, &queue.Event{ID: queue.NewID(now), Tenant: "a", Enqueued: now, Attempt: 1, Body: []byte{byte(i)}}, 10); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := s.Claim(ctx, "a", 3, now)
	for i, d := range []time.Duration{3 * time.Second, time.Second, 2 * time.Second} {
		evs[i].NotBefore, evs[i].Attempt = now.Add(d), 2
		if err := s.Retry(ctx, evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.Claim(ctx, "a", 3, now.Add(500*time.Millisecond)); len(got) != 0 {
		t.Fatalf("claimed %d before any is due", len(got))
	}
	got, _ := s.Claim(ctx, "a", 3, now.Add(2500*time.Millisecond))
	if len(got) != 2 || got[0].ID != evs[1].ID || got[1].ID != evs[2].ID {
		t.Fatalf("at 2.5s claimed %v, want the 1s then the 2s retry", got)
	}
	if got, _ := s.Claim(ctx, "a", 3, now.Add(2600*time.Millisecond)); len(got) != 0 {
		t.Fatalf("the 3s retry claimed at 2.6s")
	}
	if got, _ := s.Claim(ctx, "a", 3, now.Add(3*time.Second)); len(got) != 1 || got[0].ID != evs[0].ID {
		t.Fatalf("at 3s claimed %v, want the 3s retry", got)
	}
}

// TestRefusesOtherFile: a file holding another store's data is not taken
// for a queue.
func TestRefusesOtherFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imhook.db")
	db, err := boltdb.Open(path, "registry", boltdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("tenants-of-the-registry")); return err })
	db.Close()
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "not an imhook queue file") {
		t.Fatalf("Open of a registry file: %v", err)
	}
}
