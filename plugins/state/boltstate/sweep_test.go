package boltstate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// clock is a time that tests move forward.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestSweep: expired keys are invisible at once and removed, with their
// quota, by the sweep, in batches, for every tenant, without touching live
// keys.
func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	s, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}, SweepInterval: -1, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := state.NewTenant(s, "a", state.Quota{MaxKeys: 3000}, nil)
	b := state.NewTenant(s, "b", state.Quota{}, nil)
	for i := range 2500 {
		if _, err := a.Set(ctx, fmt.Appendf(nil, "t%d", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Set(ctx, []byte("live"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(ctx, []byte("n"), 1, time.Second); err != nil {
		t.Fatal(err)
	}
	c.add(time.Minute)
	if _, _, err := a.Get(ctx, []byte("t1")); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("expired key read: %v", err)
	}
	if u, _ := a.Usage(ctx); u.Keys != 2501 {
		t.Fatalf("before the sweep usage %+v, want the expired keys still counted", u)
	}
	if err := s.Sweep(); err != nil {
		t.Fatal(err)
	}
	ua, _ := a.Usage(ctx)
	ub, _ := b.Usage(ctx)
	if ua.Keys != 1 || ua.Bytes != int64(len("live")+1) || ub.Keys != 0 || ub.Bytes != 0 {
		t.Fatalf("after the sweep a %+v, b %+v", ua, ub)
	}
	if v, _, err := a.Get(ctx, []byte("live")); err != nil || string(v) != "v" {
		t.Fatalf("live key: %q %v", v, err)
	}
}

// TestWriteHonoursContext: a write waiting for the writer (here held by
// another write whose clock read blocks) returns when its context ends,
// which the guest sees as the timeout status.
func TestWriteHonoursContext(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	var blocking sync.Once
	now := func() time.Time {
		blocking.Do(func() {
			entered <- struct{}{}
			<-hold
		})
		return time.Unix(1_800_000_000, 0)
	}
	s, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}, SweepInterval: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := state.NewTenant(s, "a", state.Quota{}, nil)
	first := make(chan error, 1)
	go func() {
		_, err := a.Set(context.Background(), []byte("k"), []byte("1"), 0)
		first <- err
	}()
	<-entered // the first write holds bbolt's writer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = a.Add(ctx, []byte("n"), 1, 0)
	if !errors.Is(err, context.DeadlineExceeded) || state.StatusOf(err).String() != "timeout" {
		t.Fatalf("blocked write: %v, want the context's deadline (status timeout)", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}
