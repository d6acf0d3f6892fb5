package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Announce records this replica's serving state (opaque bytes, JSON in
// practice) under its ID for ttl: a replica that stops announcing drops out
// of Replicas once its last announcement expires. It works in the lost-data
// state too: what each replica serves is what an operator needs to see then.
func (b *Backend) Announce(ctx context.Context, id string, state []byte, ttl time.Duration) error {
	_, err := b.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, b.k.replica(id), state, ttl)
		p.SAdd(ctx, b.k.replicas(), id)
		return nil
	})
	if err != nil {
		return b.fail("announce replica["+id+"]", err)
	}
	return nil
}

// Withdraw removes this replica's announcement (at a graceful shutdown).
func (b *Backend) Withdraw(ctx context.Context, id string) error {
	_, err := b.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, b.k.replica(id))
		p.SRem(ctx, b.k.replicas(), id)
		return nil
	})
	if err != nil {
		return b.fail("withdraw replica["+id+"]", err)
	}
	return nil
}

// Replicas returns the current announcement of every replica, by ID, and
// forgets the IDs whose announcement expired.
func (b *Backend) Replicas(ctx context.Context) (map[string][]byte, error) {
	ids, err := b.c.SMembers(ctx, b.k.replicas()).Result()
	if err != nil {
		return nil, b.fail("list replicas", err)
	}
	out := make(map[string][]byte, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ks := make([]string, len(ids))
	for i, id := range ids {
		ks[i] = b.k.replica(id)
	}
	vals, err := b.c.MGet(ctx, ks...).Result()
	if err != nil {
		return nil, b.fail("list replicas", err)
	}
	var gone []any
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[ids[i]] = []byte(s)
		} else {
			gone = append(gone, ids[i])
		}
	}
	if len(gone) > 0 {
		_ = b.c.SRem(ctx, b.k.replicas(), gone...).Err() // an expired replica; a live one re-adds itself
	}
	return out, nil
}
