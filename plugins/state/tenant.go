package state

import (
	"context"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// Tenant is one tenant's keyspace: the backend bound to the tenant's ID by
// the host, with the tenant's quota. Every key a caller passes is relative
// to that keyspace. Its methods are what plugins.KV asks of the host's
// state, and what the admin API serves. The zero value is not usable.
type Tenant struct {
	b     Backend
	id    string
	quota Quota
	// onQuota counts a refusal for a quota (a metric per tenant); nil
	// counts nothing.
	onQuota func(tenant string)
}

// NewTenant binds b to the tenant id with quota q. onQuota, when not nil,
// is called with id each time a quota refuses an operation.
func NewTenant(b Backend, id string, q Quota, onQuota func(tenant string)) *Tenant {
	return &Tenant{b: b, id: id, quota: q, onQuota: onQuota}
}

// ID returns the tenant's ID.
func (t *Tenant) ID() string { return t.id }

// Quota returns the tenant's quota.
func (t *Tenant) Quota() Quota { return t.quota }

// QuotaExceeded counts a quota refusal decided outside Tenant (the
// sandbox's operations per call).
func (t *Tenant) QuotaExceeded() {
	if t.onQuota != nil {
		t.onQuota(t.id)
	}
}

func (t *Tenant) counted(err error) error {
	if err != nil && StatusOf(err) == abi.StatusQuota {
		t.QuotaExceeded()
	}
	return err
}

// checkKey refuses an empty key and one over the key quota.
func (t *Tenant) checkKey(key []byte) error {
	if len(key) == 0 {
		return Errorf(abi.StatusInvalid, "empty key: a key is 1 or more bytes")
	}
	if t.quota.MaxKeyBytes > 0 && len(key) > t.quota.MaxKeyBytes {
		return t.counted(Errorf(abi.StatusQuota, "key of %d bytes > max_kv_key_bytes[%d]: use a shorter key (hash a long one)", len(key), t.quota.MaxKeyBytes))
	}
	return nil
}

func (t *Tenant) checkValue(v []byte) error {
	if t.quota.MaxValueBytes > 0 && len(v) > t.quota.MaxValueBytes {
		return t.counted(Errorf(abi.StatusQuota, "value of %d bytes > max_kv_value_bytes[%d]: store less, or split it over several keys", len(v), t.quota.MaxValueBytes))
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl < 0 || ttl > MaxTTL {
		return Errorf(abi.StatusInvalid, "ttl %s: want 0 (no expiry) up to %s", ttl, MaxTTL)
	}
	return nil
}

// Get returns the key's value and revision; ErrNotFound when it is not set
// (or expired).
func (t *Tenant) Get(ctx context.Context, key []byte) ([]byte, uint64, error) {
	if err := t.checkKey(key); err != nil {
		return nil, 0, err
	}
	e, err := t.b.Get(ctx, t.id, key)
	return e.Value, e.Rev, err
}

// Set writes the key, expiring after ttl when ttl > 0, and returns its new
// revision.
func (t *Tenant) Set(ctx context.Context, key, value []byte, ttl time.Duration) (uint64, error) {
	return t.put(ctx, key, value, ttl, AnyRev)
}

// CompareAndSet writes the key only when its revision is rev (0: only when
// it does not exist), and returns its new revision; ErrConflict otherwise.
func (t *Tenant) CompareAndSet(ctx context.Context, key, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if rev > 1<<62 {
		return 0, Errorf(abi.StatusConflict, "revision %d was never given", rev)
	}
	return t.put(ctx, key, value, ttl, int64(rev))
}

func (t *Tenant) put(ctx context.Context, key, value []byte, ttl time.Duration, ifRev int64) (uint64, error) {
	if err := t.checkKey(key); err != nil {
		return 0, err
	}
	if err := t.checkValue(value); err != nil {
		return 0, err
	}
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	rev, err := t.b.Put(ctx, t.id, key, Put{Value: value, TTL: ttl, IfRev: ifRev}, t.quota)
	return rev, t.counted(err)
}

// Delete removes the key; ErrNotFound when it was not set.
func (t *Tenant) Delete(ctx context.Context, key []byte) error {
	if err := t.checkKey(key); err != nil {
		return err
	}
	return t.b.Delete(ctx, t.id, key)
}

// Add adds delta to the counter at key and returns the sum; a missing key
// starts at 0 and gets ttl (ttl does not move an existing key's expiry, so
// a counter with a TTL is a fixed window).
func (t *Tenant) Add(ctx context.Context, key []byte, delta int64, ttl time.Duration) (int64, error) {
	if err := t.checkKey(key); err != nil {
		return 0, err
	}
	if err := checkTTL(ttl); err != nil {
		return 0, err
	}
	n, err := t.b.Add(ctx, t.id, key, delta, ttl, t.quota)
	return n, t.counted(err)
}

// List returns up to limit keys starting with prefix, in byte order, after
// cursor (nil: from the first), and the cursor of the next page (nil when
// there is none). A cursor is a key of the caller's own keyspace: whatever
// it holds, it lists nothing else.
func (t *Tenant) List(ctx context.Context, prefix, cursor []byte, limit int) ([][]byte, []byte, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	if t.quota.MaxKeyBytes > 0 && (len(prefix) > t.quota.MaxKeyBytes || len(cursor) > t.quota.MaxKeyBytes) {
		return nil, nil, Errorf(abi.StatusInvalid, "prefix or cursor longer than max_kv_key_bytes[%d]: no key can match", t.quota.MaxKeyBytes)
	}
	after := cursor
	if len(after) == 0 || (len(prefix) > 0 && string(after) < string(prefix)) {
		after = nil
	}
	keys, err := t.b.List(ctx, t.id, prefix, after, limit)
	if err != nil {
		return nil, nil, err
	}
	var next []byte
	if len(keys) == limit {
		next = keys[len(keys)-1]
	}
	// A page of long keys is cut at MaxListBytes: the rest is the next page.
	n := 0
	for i, k := range keys {
		if n += len(k); n > MaxListBytes && i > 0 {
			keys, next = keys[:i], keys[i-1]
			break
		}
	}
	return keys, next, nil
}

// LocalReads reports whether the backend's reads are local and never block
// (bbolt), so that the sandbox runs them without giving its CPU slot up.
func (t *Tenant) LocalReads() bool {
	l, ok := t.b.(interface{ LocalReads() bool })
	return ok && l.LocalReads()
}

// Usage returns what the tenant's keyspace holds.
func (t *Tenant) Usage(ctx context.Context) (Usage, error) { return t.b.Usage(ctx, t.id) }
