package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/store/health"
)

// Watch implements registry.Backend.Watch. It reports this process's
// commits at once, other processes' commits when their pub/sub message
// arrives, and any commit whose message was lost (Redis restarted, the
// subscription reconnected) at the next poll of the counter by the guard,
// within redisdb.Config.PollInterval. While the store is in the lost-data
// state it reports nothing; when an operator ends that state it reports the
// store's revision even if it is not newer (the history was replaced).
func (b *Backend) Watch(ctx context.Context) <-chan uint64 { return b.feed.Watch(ctx) }

// Health returns the guard's verdict on the Redis (redisdb.Guard.Health):
// nil while it answers and holds everything seen before.
func (b *Backend) Health() error {
	if err := b.g.Health(); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}

// Status implements registry.Monitored: the guard's status of the Redis.
func (b *Backend) Status() registry.StoreStatus { return b.g.Status() }

// AcceptLoss implements registry.Monitored through the guard
// (redisdb.Guard.AcceptLoss), which every store on this Redis shares.
func (b *Backend) AcceptLoss(ctx context.Context, revision uint64) (registry.StoreStatus, error) {
	st, err := b.g.AcceptLoss(ctx, revision)
	switch {
	case errors.Is(err, health.ErrWrongRevision):
		return st, fmt.Errorf("registry: %w (%w)", err, registry.ErrConflict)
	case errors.Is(err, health.ErrNothingLost):
		return st, fmt.Errorf("registry: %w (%w)", err, registry.ErrInvalid)
	case err == nil:
		// Other replicas learn of it at their next poll; this tells them now.
		_ = b.c.Publish(ctx, b.k.channel(), st.Revision).Err()
	}
	return st, err
}

// refuseLost returns the lost-data error when the store is in that state.
func (b *Backend) refuseLost() error {
	if err := b.g.Refuse("registry"); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}

// subscribe follows the change channel until ctx ends. go-redis resubscribes
// after a reconnect by itself; what is published meanwhile is lost, and the
// guard's poll makes up for it.
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
				b.g.Observe(rev)
			}
		}
	}
}
