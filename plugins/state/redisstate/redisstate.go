// Package redisstate keeps plugin state in Redis, so that every replica
// sees the same state.
//
// Every key of a tenant T carries the hash tag {T}, so Redis Cluster keeps
// a tenant's keyspace in one slot and one script can change it atomically:
//
//	<prefix>:kv:{T}:v:<key>  hash {v: value, r: revision}, with a native TTL
//	<prefix>:kv:{T}:i        sorted set of the keys (score 0), for listing in
//	                         byte order and counting keys
//	<prefix>:kv:{T}:x        sorted set of the keys with a TTL, scored by expiry (ms)
//	<prefix>:kv:{T}:s        hash key -> len(key)+len(value)
//	<prefix>:kv:{T}:m        hash {bytes, rev}: the tenant's total and last revision
//
// Writes are Lua scripts: the quota check and the write are one atomic step,
// so quotas hold under any number of writers on any number of replicas.
// Reads are a single HMGET. A Store from NewShared refuses writes while
// the Redis's data-loss guard (redisdb.Guard) reports a loss. A key whose TTL passed is gone at once (Redis
// expires it); its place in the index and the byte count is reclaimed by the
// next writes of the tenant (up to 16 each), so until then it still counts
// toward max_kv_keys and max_kv_bytes.
package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/sdk/abi"
)

// Store is the Redis backend of plugins/state.
type Store struct {
	c      goredis.UniversalClient
	prefix string
	guard  *redisdb.Guard // nil: no data-loss guard (tests of the store alone)
}

var _ state.Backend = (*Store)(nil)

// New uses c, whose keys start with prefix (store.redis.key_prefix). Close
// does not close c.
func New(c goredis.UniversalClient, prefix string) *Store {
	return &Store{c: c, prefix: prefix}
}

// NewShared uses the Redis every store of the server shares, and refuses
// writes while its guard reports that Redis lost data.
func NewShared(db *redisdb.Shared) *Store {
	return &Store{c: db.Client, prefix: db.Config.KeyPrefix, guard: db.Guard}
}

// writable refuses a write while the guard reports that Redis lost data:
// the guest gets StatusUnavailable with the reason and the operator's
// action, and nothing is written to the emptied Redis. Reads go on: they
// answer what Redis holds.
func (s *Store) writable() error {
	if s.guard == nil {
		return nil
	}
	if err := s.guard.Refuse("state"); err != nil {
		return state.Errorf(abi.StatusUnavailable, "state store: %v", err)
	}
	return nil
}

// Close releases nothing: the client belongs to the caller.
func (s *Store) Close() error { return nil }

type tenantKeys struct{ base string }

func (s *Store) keys(tenant string) tenantKeys {
	return tenantKeys{base: s.prefix + ":kv:{" + tenant + "}:"}
}

func (k tenantKeys) value(key []byte) string { return k.base + "v:" + string(key) }
func (k tenantKeys) meta() []string {
	return []string{k.base + "i", k.base + "x", k.base + "s", k.base + "m"}
}

func unavailable(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return state.Errorf(abi.StatusUnavailable, "state store (redis): %v; retry later", err)
}

func (s *Store) Get(ctx context.Context, tenant string, key []byte) (state.Entry, error) {
	vals, err := s.c.HMGet(ctx, s.keys(tenant).value(key), "v", "r").Result()
	if err != nil {
		return state.Entry{}, unavailable(err)
	}
	v, _ := vals[0].(string)
	r, ok := vals[1].(string)
	if !ok {
		return state.Entry{}, state.Errorf(abi.StatusNotFound, "key not found")
	}
	rev, _ := strconv.ParseUint(r, 10, 64)
	return state.Entry{Value: []byte(v), Rev: rev}, nil
}

// purge is the start of every write script: now (server time, ms), and the
// accounting of up to 16 keys whose TTL passed dropped. KEYS: value, i, x,
// s, m.
const purge = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 16)
for _, m in ipairs(dead) do
  local sz = redis.call('HGET', KEYS[4], m)
  if sz then redis.call('HINCRBY', KEYS[5], 'bytes', -tonumber(sz)) end
  redis.call('HDEL', KEYS[4], m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], m)
end
local function forget(m)
  local sz = redis.call('HGET', KEYS[4], m)
  if sz then redis.call('HINCRBY', KEYS[5], 'bytes', -tonumber(sz)) end
  redis.call('HDEL', KEYS[4], m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZREM', KEYS[3], m)
end
local function quota(key, oldsize, newsize, found, maxkeys, maxbytes)
  if not found and maxkeys > 0 then
    local n = redis.call('ZCARD', KEYS[2])
    if n + 1 > maxkeys then return {-3, 'keys', n} end
  end
  if maxbytes > 0 and newsize > oldsize then
    local b = tonumber(redis.call('HGET', KEYS[5], 'bytes') or '0')
    if b - oldsize + newsize > maxbytes then return {-3, 'bytes', b - oldsize + newsize} end
  end
  return nil
end
local function index(key, oldsize, newsize, ttl)
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('ZADD', KEYS[3], now + ttl, key)
  end
  redis.call('ZADD', KEYS[2], 0, key)
  redis.call('HSET', KEYS[4], key, newsize)
  redis.call('HINCRBY', KEYS[5], 'bytes', newsize - oldsize)
end
`

// putScript: ARGV key, value, ttl ms, ifrev, maxkeys, maxbytes.
// Returns {rev} or {status, detail, n}.
var putScript = goredis.NewScript(purge + `
local key = ARGV[1]
local ttl, ifrev = tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = redis.call('HGET', KEYS[1], 'r')
local found = cur ~= false
if ifrev == 0 and found then return {-7, 'exists', tonumber(cur)} end
if ifrev > 0 and not found then return {-7, 'absent', 0} end
if ifrev > 0 and tonumber(cur) ~= ifrev then return {-7, 'rev', tonumber(cur)} end
if not found then forget(key) end
local oldsize = 0
if found then oldsize = tonumber(redis.call('HGET', KEYS[4], key) or '0') end
local newsize = #key + #ARGV[2]
local q = quota(key, oldsize, newsize, found, tonumber(ARGV[5]), tonumber(ARGV[6]))
if q then return q end
local rev = redis.call('HINCRBY', KEYS[5], 'rev', 1)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', rev)
if ttl == 0 then redis.call('ZREM', KEYS[3], key) end
index(key, oldsize, newsize, ttl)
return {rev}
`)

// addScript: ARGV key, delta, ttl ms, maxkeys, maxbytes.
// Returns {0, value} or {status, detail, n}.
var addScript = goredis.NewScript(purge + `
local key = ARGV[1]
local ttl = tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], 'v')
local found = old ~= false
if not found then forget(key) end
local oldsize = 0
if found then oldsize = tonumber(redis.call('HGET', KEYS[4], key) or '0') end
local ok = redis.pcall('HINCRBY', KEYS[1], 'v', ARGV[2])
if type(ok) == 'table' and ok.err then return {-4, ok.err, 0} end
local v = redis.call('HGET', KEYS[1], 'v')
local newsize = #key + #v
local q = quota(key, oldsize, newsize, found, tonumber(ARGV[4]), tonumber(ARGV[5]))
if q then
  if found then redis.call('HSET', KEYS[1], 'v', old) else redis.call('DEL', KEYS[1]) end
  return q
end
local rev = redis.call('HINCRBY', KEYS[5], 'rev', 1)
redis.call('HSET', KEYS[1], 'r', rev)
if found then ttl = 0 end
index(key, oldsize, newsize, ttl)
return {0, v}
`)

// delScript: ARGV key. Returns {0} or {-1}.
var delScript = goredis.NewScript(purge + `
local key = ARGV[1]
local found = redis.call('DEL', KEYS[1]) == 1
forget(key)
if not found then return {-1} end
return {0}
`)

// listScript: KEYS i, x; ARGV min, prefix, limit. Live keys in byte order.
var listScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local min, prefix, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
while #out < limit do
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, limit)
  if #batch == 0 then return out end
  for _, m in ipairs(batch) do
    if string.sub(m, 1, #prefix) ~= prefix then return out end
    local e = redis.call('ZSCORE', KEYS[2], m)
    if not e or tonumber(e) > now then
      table.insert(out, m)
      if #out == limit then return out end
    end
    min = '(' .. m
  end
end
return out
`)

func (s *Store) run(ctx context.Context, sc *goredis.Script, tenant string, key []byte, args ...any) ([]any, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	k := s.keys(tenant)
	keys := append([]string{k.value(key)}, k.meta()...)
	res, err := sc.Run(ctx, s.c, keys, append([]any{key}, args...)...).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	return res, nil
}

func refusal(res []any, q state.Quota) error {
	code, _ := res[0].(int64)
	detail := ""
	if len(res) > 1 {
		detail, _ = res[1].(string)
	}
	var n int64
	if len(res) > 2 {
		n, _ = res[2].(int64)
	}
	switch abi.Status(code) {
	case abi.StatusQuota:
		if detail == "keys" {
			return state.Errorf(abi.StatusQuota, "the tenant holds %d keys = max_kv_keys[%d]: delete keys, give them a TTL, or ask the operator for more", n, q.MaxKeys)
		}
		return state.Errorf(abi.StatusQuota, "the write would make the tenant's state %d bytes > max_kv_bytes[%d]: delete keys, give them a TTL, or ask the operator for more", n, q.MaxBytes)
	case abi.StatusConflict:
		switch detail {
		case "exists":
			return state.Errorf(abi.StatusConflict, "key exists (revision %d); compare-and-set with revision 0 only creates", n)
		case "absent":
			return state.Errorf(abi.StatusConflict, "key does not exist")
		}
		return state.Errorf(abi.StatusConflict, "key is at revision %d: read it again and retry", n)
	case abi.StatusInvalid:
		return state.Errorf(abi.StatusInvalid, "add: %s: add works on counters (decimal integers) only and must not overflow 64 bits", detail)
	case abi.StatusNotFound:
		return state.Errorf(abi.StatusNotFound, "key not found")
	}
	return state.Errorf(abi.StatusUnavailable, "state store (redis): unexpected script reply %v", res)
}

func (s *Store) Put(ctx context.Context, tenant string, key []byte, p state.Put, q state.Quota) (uint64, error) {
	res, err := s.run(ctx, putScript, tenant, key, p.Value, ttlMs(p.TTL), p.IfRev, q.MaxKeys, q.MaxBytes)
	if err != nil {
		return 0, err
	}
	if len(res) == 1 {
		rev, _ := res[0].(int64)
		return uint64(rev), nil
	}
	return 0, refusal(res, q)
}

func ttlMs(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return max(ttl.Milliseconds(), 1)
}

func (s *Store) Delete(ctx context.Context, tenant string, key []byte) error {
	res, err := s.run(ctx, delScript, tenant, key)
	if err != nil {
		return err
	}
	if c, _ := res[0].(int64); c == 0 {
		return nil
	}
	return refusal(res, state.Quota{})
}

func (s *Store) Add(ctx context.Context, tenant string, key []byte, delta int64, ttl time.Duration, q state.Quota) (int64, error) {
	res, err := s.run(ctx, addScript, tenant, key, delta, ttlMs(ttl), q.MaxKeys, q.MaxBytes)
	if err != nil {
		return 0, err
	}
	if c, _ := res[0].(int64); c == 0 && len(res) == 2 {
		v, _ := res[1].(string)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, state.Errorf(abi.StatusUnavailable, "state store (redis): counter reads %q", v)
		}
		return n, nil
	}
	return 0, refusal(res, q)
}

func (s *Store) List(ctx context.Context, tenant string, prefix, after []byte, limit int) ([][]byte, error) {
	k := s.keys(tenant)
	min := "[" + string(prefix)
	if after != nil {
		min = "(" + string(after)
	}
	res, err := listScript.Run(ctx, s.c, []string{k.base + "i", k.base + "x"}, min, prefix, limit).StringSlice()
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([][]byte, len(res))
	for i, m := range res {
		out[i] = []byte(m)
	}
	return out, nil
}

func (s *Store) Usage(ctx context.Context, tenant string) (state.Usage, error) {
	k := s.keys(tenant)
	p := s.c.Pipeline()
	n := p.ZCard(ctx, k.base+"i")
	b := p.HGet(ctx, k.base+"m", "bytes")
	if _, err := p.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return state.Usage{}, unavailable(err)
	}
	bytes, _ := strconv.ParseInt(b.Val(), 10, 64)
	return state.Usage{Keys: n.Val(), Bytes: bytes}, nil
}

// DeleteTenant deletes the tenant's keys 500 at a time, then its index.
// Another replica writing to the tenant meanwhile may leave keys behind;
// the host deletes a tenant's state after the tenant, when nothing writes.
func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	if err := s.writable(); err != nil {
		return err
	}
	k := s.keys(tenant)
	for {
		members, err := s.c.ZRange(ctx, k.base+"i", 0, 499).Result()
		if err != nil {
			return unavailable(err)
		}
		if len(members) == 0 {
			break
		}
		dels := make([]string, len(members))
		zrem := make([]any, len(members))
		for i, m := range members {
			dels[i] = k.value([]byte(m))
			zrem[i] = m
		}
		p := s.c.TxPipeline()
		p.Del(ctx, dels...)
		p.ZRem(ctx, k.base+"i", zrem...)
		if _, err := p.Exec(ctx); err != nil {
			return unavailable(err)
		}
	}
	if err := s.c.Del(ctx, k.meta()...).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// String names the backend in logs.
func (s *Store) String() string { return fmt.Sprintf("redis state (prefix %s)", s.prefix) }
