// Package feed fans a growing revision number out to watchers, coalescing:
// each watcher's channel holds at most one value, always the newest one it
// has not yet received. Backends use it to implement Backend.Watch.
package feed

import (
	"context"
	"sync"
)

// Feed is a set of watchers. The zero value is ready to use; it is safe for
// concurrent use.
type Feed struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
}

type sub struct {
	ch   chan uint64
	last uint64 // newest value handed to ch
}

// Watch returns a channel that receives revisions passed to Publish after
// this call, coalesced. It is closed when ctx is done or the feed is closed.
func (f *Feed) Watch(ctx context.Context) <-chan uint64 {
	s := &sub{ch: make(chan uint64, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		close(s.ch)
		return s.ch
	}
	if f.subs == nil {
		f.subs = make(map[*sub]struct{})
	}
	f.subs[s] = struct{}{}
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[s]; ok {
			delete(f.subs, s)
			close(s.ch)
		}
	}()
	return s.ch
}

// Publish hands rev to every watcher that has not seen rev or a newer one,
// replacing an older value the watcher has not read yet. It never blocks.
func (f *Feed) Publish(rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if rev <= s.last {
			continue
		}
		s.last = rev
		select {
		case <-s.ch: // drop the stale value
		default:
		}
		s.ch <- rev // cannot block: we hold the only sender and just drained
	}
}

// Restart hands rev to every watcher even when it is not newer than what
// they had: the store's history was replaced (an operator accepted that it
// lost data), so watchers must reload whatever the value.
func (f *Feed) Restart(rev uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		s.last = rev
		select {
		case <-s.ch:
		default:
		}
		s.ch <- rev
	}
}

// Close closes every watcher's channel; later Watch calls get a closed
// channel.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		close(s.ch)
	}
	f.subs = nil
}
