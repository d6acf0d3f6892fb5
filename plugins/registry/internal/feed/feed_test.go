package feed

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestCoalescesToNewest(t *testing.T) {
	t.Parallel()
	var f Feed
	ch := f.Watch(t.Context())
	for _, r := range []uint64{1, 2, 3, 2} {
		f.Publish(r)
	}
	if got := <-ch; got != 3 {
		t.Fatalf("got %d, want the newest 3", got)
	}
	select {
	case got := <-ch:
		t.Fatalf("got extra value %d after draining", got)
	default:
	}
	f.Publish(3)
	select {
	case got := <-ch:
		t.Fatalf("got %d again, want no repeat of a value already delivered", got)
	default:
	}
	f.Publish(4)
	if got := <-ch; got != 4 {
		t.Fatalf("got %d, want 4", got)
	}
}

func TestClosesOnContextAndClose(t *testing.T) {
	t.Parallel()
	var f Feed
	ctx, cancel := context.WithCancel(t.Context())
	a := f.Watch(ctx)
	b := f.Watch(t.Context())
	cancel()
	waitClosed(t, a)
	f.Publish(1) // must not panic on a removed watcher
	f.Close()
	if got := <-b; got != 1 {
		t.Fatalf("b got %d, want the value published before Close", got)
	}
	waitClosed(t, b)
	waitClosed(t, f.Watch(t.Context()))
}

func TestConcurrentPublishNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	var f Feed
	ch := f.Watch(t.Context())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				f.Publish(uint64(i*4 + g + 1))
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var last uint64
	for {
		select {
		case r := <-ch:
			if r <= last {
				t.Fatalf("got %d after %d", r, last)
			}
			last = r
		case <-done:
			return
		}
	}
}

func waitClosed(t *testing.T, ch <-chan uint64) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}
