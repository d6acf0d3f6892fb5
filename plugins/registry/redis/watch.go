package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Watch implements registry.Backend.Watch. It reports this process's
// commits at once, other processes' commits when their pub/sub message
// arrives, and any commit whose message was lost (Redis restarted, the
// subscription reconnected) at the next poll of the counter, within
// redisdb.Config.PollInterval.
func (b *Backend) Watch(ctx context.Context) <-chan uint64 { return b.feed.Watch(ctx) }

// Health returns nil while Redis answers, and otherwise an error saying since
// when and why it does not ("registry: redis at 127.0.0.1:6379 unreachable
// since 12:00:01Z: ..."). It is updated by the revision poll, so it changes
// within about the config's PollInterval plus DialTimeout. It never waits
// on Redis: callers may use it on every readiness probe.
func (b *Backend) Health() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.downErr == nil {
		return nil
	}
	return fmt.Errorf("registry: %s since %s: %w", b.where, b.downSince.UTC().Format(time.RFC3339), b.downErr)
}

// observe hands rev to the watchers when it is newer than anything seen.
func (b *Backend) observe(rev uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rev > b.seen {
		b.seen = rev
		b.feed.Publish(rev)
	}
}

// setHealth records the outcome of a poll.
func (b *Backend) setHealth(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case err == nil:
		b.downErr, b.downSince = nil, time.Time{}
	case b.downErr == nil:
		b.downErr, b.downSince = err, time.Now()
	default:
		b.downErr = err // keep the first failure's time, show the latest cause
	}
}

// subscribe follows the change channel until ctx ends. go-redis resubscribes
// after a reconnect by itself; what is published meanwhile is lost, and the
// poll makes up for it.
func (b *Backend) subscribe(ctx context.Context) {
	defer b.wg.Done()
	ps := b.c.Subscribe(ctx, b.k.channel())
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if rev, err := strconv.ParseUint(m.Payload, 10, 64); err == nil {
				b.observe(rev)
			}
		}
	}
}

// poll reads the revision counter every PollInterval until ctx ends,
// publishing what pub/sub missed and recording whether Redis answers.
func (b *Backend) poll(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	timeout := max(4*b.cfg.PollInterval, b.cfg.DialTimeout, time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, timeout)
		rev, err := b.readRevision(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.setHealth(fmt.Errorf("unreachable: %w", err))
			continue
		}
		b.mu.Lock()
		if rev < b.polled && b.polled > b.lostAbove {
			b.lostAbove = b.polled
		}
		b.polled = rev
		if rev >= b.lostAbove {
			b.lostAbove = 0
		}
		lost := b.lostAbove
		b.mu.Unlock()
		if rev < lost {
			// The counter never decreases: Redis lost data (restarted
			// without persistence, flushed, failed over to a stale
			// replica). Serving goes on from what is loaded; watchers
			// hear of nothing until the counter passes what they saw.
			b.setHealth(fmt.Errorf("revision is %d, below the %d seen before: Redis lost registry data; check its persistence (docs/deploy.md), restore it and restart the replicas", rev, lost))
			continue
		}
		b.setHealth(nil)
		b.observe(rev)
	}
}
