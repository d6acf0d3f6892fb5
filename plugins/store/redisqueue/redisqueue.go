// Package redisqueue is the queue.Store of replicas sharing a Redis
// (store.backend: redis): a Redis Stream per tenant read through one
// consumer group, so that replicas share a tenant's events and a crashed
// replica's claims are taken over by another once their lease is over.
//
// # Keys
//
// Under the store.redis key prefix P, with the prefix and the tenant t as
// hash tag (as the registry's blobs, {P:b:t}), so that each tenant's keys
// live in one cluster slot and every script touches one slot:
//
//	{P:q:t}:s   stream of ready and claimed events (field "e": the
//	            event's binary encoding), consumer group "imhook"
//	{P:q:t}:z   delayed retries: ZSET of event IDs scored by due time (ms)
//	{P:q:t}:h   delayed retries: HASH event ID -> encoding
//	{P:q:t}:dz  dead letters: ZSET of event IDs scored by burial order
//	{P:q:t}:dh  dead letters: HASH event ID -> encoding
//	{P:q:t}:n   burial counter
//	{P:q}:tenants SET of tenants that ever had events
//
// # Claims
//
// Claim is one Lua script: it moves due retries from the ZSET to the end of
// the stream, takes over entries another consumer has held longer than the
// lease (XAUTOCLAIM: that replica crashed, or hangs), then reads new entries
// (XREADGROUP). Ack, Retry and Bury each XACK the entry and XDEL it in one
// script, doing nothing when the entry is no longer this consumer's (another
// replica took it over, and will end it). The depth bound is checked and
// the event added in one script, so concurrent enqueues from several
// replicas never pass it.
//
// # Deaths and lost data
//
// A claim taken over from a consumer that died carries Redis's delivery
// count of the entry: each delivery before it counts as a failed attempt
// (queue.DiedError), so an event that kills the process is dead-lettered
// after the tenant's max attempts. With Options.Guard every write is
// refused while the Redis's data-loss guard reports a loss (redisdb.Guard).
package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/redisdb"
)

// DefaultLease is Options.Lease when zero.
const DefaultLease = time.Minute

const group = "imhook"

// Options configure New.
type Options struct {
	// KeyPrefix starts every key (store.redis.key_prefix). Required.
	KeyPrefix string
	// Lease is how long a claim may last before another replica may take
	// the event over. It must exceed the longest delivery (queue.timeout).
	// Default DefaultLease.
	Lease time.Duration
	// Guard, when set, is the data-loss guard of the Redis: every write
	// (enqueue, claim, ack, retry, bury, revive, purge) is refused while it
	// reports that Redis lost data.
	Guard *redisdb.Guard
	// Consumer names this replica in the consumer groups; default host name,
	// process ID and random bits, unique per New.
	Consumer string
}

// Store is the Redis queue.Store.
type Store struct {
	guard    *redisdb.Guard
	c        goredis.UniversalClient
	prefix   string
	lease    time.Duration
	consumer string
}

// New returns a Store on c, which the caller opened (redisdb.Open) and
// closes after Close.
func New(c goredis.UniversalClient, opt Options) (*Store, error) {
	if c == nil || opt.KeyPrefix == "" {
		return nil, errors.New("redisqueue: a client and Options.KeyPrefix are required")
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Consumer == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		opt.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(r[:]))
	}
	return &Store{c: c, prefix: opt.KeyPrefix, lease: opt.Lease, consumer: opt.Consumer, guard: opt.Guard}, nil
}

// writable refuses a write while the guard reports that Redis lost data
// (the error wraps health.ErrDataLost and says what the operator does).
func (s *Store) writable() error {
	if s.guard == nil {
		return nil
	}
	if err := s.guard.Refuse("queue"); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

func (s *Store) key(tenant, what string) string {
	return "{" + s.prefix + ":q:" + tenant + "}:" + what
}

func (s *Store) tenantsKey() string { return "{" + s.prefix + ":q}:tenants" }

// ensureGroup creates the stream and its group when missing.
const ensureGroup = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], 'imhook', '0', 'MKSTREAM')
end
`

var enqueueScript = goredis.NewScript(ensureGroup + `
local n = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if n >= tonumber(ARGV[1]) then return -1 - n end
redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])
return n + 1
`)

// Enqueue implements queue.Store. The event is as durable as Redis makes
// it: with appendfsync always, on disk; with everysec (Redis's default), a
// crash of Redis itself may lose the last second.
func (s *Store) Enqueue(ctx context.Context, ev *queue.Event, maxDepth int) error {
	if err := s.writable(); err != nil {
		return err
	}
	n, err := enqueueScript.Run(ctx, s.c, []string{s.key(ev.Tenant, "s"), s.key(ev.Tenant, "z")},
		maxDepth, ev.AppendBinary(nil)).Int()
	if err != nil {
		return fmt.Errorf("queue: enqueue in redis: %w", err)
	}
	if n < 0 {
		return &queue.FullError{Tenant: ev.Tenant, Depth: -1 - n}
	}
	if n == 1 {
		// The tenant's first pending event: make sure replicas look at it.
		if err := s.c.SAdd(ctx, s.tenantsKey(), ev.Tenant).Err(); err != nil {
			return fmt.Errorf("queue: register tenant in redis: %w", err)
		}
	}
	return nil
}

var claimScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then return {} end
` + ensureGroup + `
local n = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3], 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  local v = redis.call('HGET', KEYS[3], id)
  if v then redis.call('XADD', KEYS[1], '*', 'e', v) end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
local out = {}
local stale = redis.call('XAUTOCLAIM', KEYS[1], 'imhook', ARGV[1], ARGV[4], '0-0', 'COUNT', n)
for _, e in ipairs(stale[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], 'imhook', e[1], e[1], 1)
    local times = 1
    if p[1] then times = p[1][4] end
    table.insert(out, {e[1], e[2], times})
  end
end
if #out < n then
  local r = redis.call('XREADGROUP', 'GROUP', 'imhook', ARGV[1], 'COUNT', n - #out, 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do table.insert(out, e) end
  end
end
return out
`)

// Claim implements queue.Store. now is the time of the caller; due retries
// are compared with it.
func (s *Store) Claim(ctx context.Context, tenant string, n int, now time.Time) ([]*queue.Event, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	res, err := claimScript.Run(ctx, s.c, []string{s.key(tenant, "s"), s.key(tenant, "z"), s.key(tenant, "h")},
		s.consumer, n, now.UnixMilli(), s.lease.Milliseconds()).Slice()
	if err != nil {
		return nil, fmt.Errorf("queue: claim from redis: %w", err)
	}
	out := make([]*queue.Event, 0, len(res))
	for _, r := range res {
		ev, err := decodeEntry(r)
		if err != nil {
			return out, fmt.Errorf("queue: tenant[%s]: %w", tenant, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// decodeEntry decodes a stream entry {id, {"e", data}}, or one taken over
// from a consumer that died {id, {"e", data}, times delivered}: each
// delivery before this one died with its process (or outlived the lease),
// and counts as an attempt.
func decodeEntry(r any) (*queue.Event, error) {
	e, ok := r.([]any)
	if !ok || len(e) < 2 {
		return nil, fmt.Errorf("unexpected stream entry %v", r)
	}
	if len(e) == 3 {
		times, _ := e[2].(int64)
		ev, err := decodeEntry(e[:2])
		if err == nil && times > 1 {
			ev.LastError = fmt.Sprintf("%s (attempt %d; or it outlived queue.lease)", queue.DiedError, ev.Attempt+int(times)-2)
			ev.Attempt += int(times) - 1
		}
		return ev, err
	}
	id, _ := e[0].(string)
	fields, _ := e[1].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		if f, _ := fields[i].(string); f == "e" {
			data, _ := fields[i+1].(string)
			ev := &queue.Event{Handle: id}
			if err := ev.UnmarshalBinary([]byte(data)); err != nil {
				return nil, fmt.Errorf("stream entry %s: %w", id, err)
			}
			return ev, nil
		}
	}
	return nil, fmt.Errorf("stream entry %s has no event", id)
}

// Begin implements queue.Store: Redis counted the delivery when the claim
// read it (the entry's delivery count, as durable as Redis's persistence),
// and a claim taken over from a dead consumer adds the deliveries that
// died to the event's attempts (decodeEntry).
func (s *Store) Begin(context.Context, *queue.Event) error { return s.writable() }

// ackScript ends a claim: XACK, and when the entry was still pending (ours
// or taken over), XDEL and the rest of the script.
const ackPrefix = `
if redis.call('XACK', KEYS[1], 'imhook', ARGV[1]) == 0 then return -1 end
redis.call('XDEL', KEYS[1], ARGV[1])
`

var ackScript = goredis.NewScript(ackPrefix + `return 0`)

// Ack implements queue.Store.
func (s *Store) Ack(ctx context.Context, ev *queue.Event) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := ackScript.Run(ctx, s.c, []string{s.key(ev.Tenant, "s")}, ev.Handle).Err(); err != nil {
		return fmt.Errorf("queue: ack in redis: %w", err)
	}
	return nil
}

var retryScript = goredis.NewScript(ackPrefix + `
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 0
`)

// Retry implements queue.Store.
func (s *Store) Retry(ctx context.Context, ev *queue.Event) error {
	if err := s.writable(); err != nil {
		return err
	}
	err := retryScript.Run(ctx, s.c, []string{s.key(ev.Tenant, "s"), s.key(ev.Tenant, "z"), s.key(ev.Tenant, "h")},
		ev.Handle, ev.ID, ev.NotBefore.UnixMilli(), ev.AppendBinary(nil)).Err()
	if err != nil {
		return fmt.Errorf("queue: retry in redis: %w", err)
	}
	return nil
}

var buryScript = goredis.NewScript(ackPrefix + `
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
local n = 0
if over > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    n = n + 1
  end
end
return n
`)

// Bury implements queue.Store.
func (s *Store) Bury(ctx context.Context, ev *queue.Event, maxDead int) (int, error) {
	if err := s.writable(); err != nil {
		return 0, err
	}
	n, err := buryScript.Run(ctx, s.c, []string{s.key(ev.Tenant, "s"), s.key(ev.Tenant, "dh"), s.key(ev.Tenant, "dz"), s.key(ev.Tenant, "n")},
		ev.Handle, ev.ID, ev.AppendBinary(nil), max(maxDead, 1)).Int()
	if err != nil {
		return 0, fmt.Errorf("queue: dead-letter in redis: %w", err)
	}
	return max(n, 0), nil
}

// Tenants implements queue.Store.
func (s *Store) Tenants(ctx context.Context) ([]string, error) {
	all, err := s.c.SMembers(ctx, s.tenantsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: list tenants in redis: %w", err)
	}
	if len(all) == 0 {
		return nil, nil
	}
	pipe := s.c.Pipeline()
	xl := make([]*goredis.IntCmd, len(all))
	zc := make([]*goredis.IntCmd, len(all))
	for i, t := range all {
		xl[i] = pipe.XLen(ctx, s.key(t, "s"))
		zc[i] = pipe.ZCard(ctx, s.key(t, "z"))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("queue: count tenants' events in redis: %w", err)
	}
	var out []string
	for i, t := range all {
		if xl[i].Val()+zc[i].Val() > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// Stats implements queue.Store. Oldest looks at the first entries of the
// stream and of the delayed retries, not at every event.
func (s *Store) Stats(ctx context.Context, tenant string) (queue.Stats, error) {
	pipe := s.c.Pipeline()
	xl := pipe.XLen(ctx, s.key(tenant, "s"))
	zc := pipe.ZCard(ctx, s.key(tenant, "z"))
	dc := pipe.ZCard(ctx, s.key(tenant, "dz"))
	pend := pipe.XPending(ctx, s.key(tenant, "s"), group)
	first := pipe.XRangeN(ctx, s.key(tenant, "s"), "-", "+", 16)
	delayed := pipe.HRandField(ctx, s.key(tenant, "h"), 16)
	_, err := pipe.Exec(ctx)
	if err != nil && !errors.Is(err, goredis.Nil) && !isNoGroup(err) {
		return queue.Stats{}, fmt.Errorf("queue: stats from redis: %w", err)
	}
	st := queue.Stats{Delayed: int(zc.Val()), Dead: int(dc.Val())}
	if p, err := pend.Result(); err == nil {
		st.Claimed = int(p.Count)
	}
	st.Ready = int(xl.Val()) - st.Claimed
	st.Pending = st.Ready + st.Claimed + st.Delayed
	var ev queue.Event
	consider := func(data string) {
		if ev.UnmarshalBinary([]byte(data)) == nil && (st.Oldest.IsZero() || ev.Enqueued.Before(st.Oldest)) {
			st.Oldest = ev.Enqueued
		}
	}
	for _, m := range first.Val() {
		if v, ok := m.Values["e"].(string); ok {
			consider(v)
		}
	}
	if ids := delayed.Val(); len(ids) > 0 {
		vals, _ := s.c.HMGet(ctx, s.key(tenant, "h"), ids...).Result()
		for _, v := range vals {
			if v, ok := v.(string); ok {
				consider(v)
			}
		}
	}
	return st, nil
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// Dead implements queue.Store.
func (s *Store) Dead(ctx context.Context, tenant, after string, limit int) ([]*queue.Event, error) {
	start := int64(0)
	if after != "" {
		r, err := s.c.ZRank(ctx, s.key(tenant, "dz"), after).Result()
		if errors.Is(err, goredis.Nil) {
			return nil, fmt.Errorf("dead letter %s (the list's after): %w", after, queue.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("queue: dead letters from redis: %w", err)
		}
		start = r + 1
	}
	ids, err := s.c.ZRange(ctx, s.key(tenant, "dz"), start, start+int64(limit)-1).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: dead letters from redis: %w", err)
	}
	return s.deadEvents(ctx, tenant, ids)
}

func (s *Store) deadEvents(ctx context.Context, tenant string, ids []string) ([]*queue.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := s.c.HMGet(ctx, s.key(tenant, "dh"), ids...).Result()
	if err != nil {
		return nil, fmt.Errorf("queue: dead letters from redis: %w", err)
	}
	out := make([]*queue.Event, 0, len(vals))
	for _, v := range vals {
		data, ok := v.(string)
		if !ok {
			continue // purged meanwhile
		}
		ev := &queue.Event{}
		if err := ev.UnmarshalBinary([]byte(data)); err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// DeadEvent implements queue.Store.
func (s *Store) DeadEvent(ctx context.Context, tenant, id string) (*queue.Event, error) {
	evs, err := s.deadEvents(ctx, tenant, []string{id})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, queue.ErrNotFound
	}
	return evs[0], nil
}

var reviveScript = goredis.NewScript(ensureGroup + `
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])
return 1
`)

// Revive implements queue.Store.
func (s *Store) Revive(ctx context.Context, tenant, id string) error {
	if err := s.writable(); err != nil {
		return err
	}
	ev, err := s.DeadEvent(ctx, tenant, id)
	if err != nil {
		return err
	}
	ev.Attempt, ev.NotBefore, ev.Died = 1, time.Time{}, time.Time{}
	n, err := reviveScript.Run(ctx, s.c, []string{s.key(tenant, "s"), s.key(tenant, "dh"), s.key(tenant, "dz")},
		id, ev.AppendBinary(nil)).Int()
	if err != nil {
		return fmt.Errorf("queue: revive in redis: %w", err)
	}
	if n == 0 {
		return queue.ErrNotFound
	}
	return s.c.SAdd(ctx, s.tenantsKey(), tenant).Err()
}

var purgeScript = goredis.NewScript(`
if ARGV[1] == '' then
  local n = redis.call('ZCARD', KEYS[2])
  redis.call('DEL', KEYS[1], KEYS[2])
  return n
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
`)

// Purge implements queue.Store.
func (s *Store) Purge(ctx context.Context, tenant, id string) (int, error) {
	if err := s.writable(); err != nil {
		return 0, err
	}
	n, err := purgeScript.Run(ctx, s.c, []string{s.key(tenant, "dh"), s.key(tenant, "dz")}, id).Int()
	if err != nil {
		return 0, fmt.Errorf("queue: purge in redis: %w", err)
	}
	return n, nil
}

// DeleteTenant implements queue.Store: the tenant's keys go in one
// command (one slot), and it leaves the tenant set. A claim still running
// elsewhere ends as a no-op (its entry is gone).
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	if err := s.writable(); err != nil {
		return err
	}
	keys := []string{s.key(tenant, "s"), s.key(tenant, "z"), s.key(tenant, "h"), s.key(tenant, "dz"), s.key(tenant, "dh"), s.key(tenant, "n")}
	if err := s.c.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("queue: delete tenant[%s] in redis: %w", tenant, err)
	}
	if err := s.c.SRem(ctx, s.tenantsKey(), tenant).Err(); err != nil {
		return fmt.Errorf("queue: delete tenant[%s] in redis: %w", tenant, err)
	}
	return nil
}

// Close implements queue.Store; the client stays open (its opener closes
// it). Claims not ended are taken over by another consumer after the lease.
func (s *Store) Close() error { return nil }

// Consumer returns the name of this store in the consumer groups.
func (s *Store) Consumer() string { return s.consumer }

var _ queue.Store = (*Store)(nil)
