//go:build !wasip1

package sdktest

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/plugin"
)

// KVQuota is a tenant's state quota, as imhook's limits set it. A zero field
// takes imhook's default (max_kv_keys 10000, max_kv_bytes 16 MiB,
// max_kv_key_bytes 512, max_kv_value_bytes 64 KiB).
type KVQuota struct {
	MaxKeys       int64
	MaxBytes      int64
	MaxKeyBytes   int
	MaxValueBytes int
}

func (q KVQuota) withDefaults() KVQuota {
	if q.MaxKeys == 0 {
		q.MaxKeys = 10_000
	}
	if q.MaxBytes == 0 {
		q.MaxBytes = 16 << 20
	}
	if q.MaxKeyBytes == 0 {
		q.MaxKeyBytes = 512
	}
	if q.MaxValueBytes == 0 {
		q.MaxValueBytes = 64 << 10
	}
	return q
}

// KV is an in-memory tenant state with imhook's semantics: revisions,
// TTLs, counters, compare-and-set, listing in byte order, and the quotas,
// whose errors match plugin.ErrQuota as imhook's do. The same conformance
// suite that holds imhook's stores runs against it. It is safe for
// concurrent use.
//
//	kv := sdktest.NewKV(sdktest.KVQuota{MaxKeys: 10})
//	h := sdktest.New(t, nil).WithKV(kv)
type KV struct {
	mu    sync.Mutex
	q     KVQuota
	now   func() time.Time
	rev   uint64
	m     map[string]*kvEntry
	bytes int64
}

type kvEntry struct {
	val []byte
	rev uint64
	exp time.Time // zero: never
}

// NewKV returns an empty state with quota q.
func NewKV(q KVQuota) *KV {
	return &KV{q: q.withDefaults(), now: time.Now, m: map[string]*kvEntry{}}
}

// SetQuota changes the quota, as an operator changing the tenant's limits.
func (k *KV) SetQuota(q KVQuota) {
	k.mu.Lock()
	k.q = q.withDefaults()
	k.mu.Unlock()
}

// SetClock replaces the clock TTLs are measured with, so that a test can
// move time forward instead of sleeping.
func (k *KV) SetClock(now func() time.Time) {
	k.mu.Lock()
	k.now = now
	k.mu.Unlock()
}

// Usage returns the live keys and their bytes (keys plus values).
func (k *KV) Usage() (keys, bytes int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireAll()
	return int64(len(k.m)), k.bytes
}

// kvError is a failure with its ABI status, as imhook's state reports it.
type kvError struct {
	status abi.Status
	msg    string
}

func (e *kvError) Error() string      { return e.msg }
func (e *kvError) Status() abi.Status { return e.status }

func errf(s abi.Status, format string, args ...any) error {
	return &kvError{status: s, msg: fmt.Sprintf(format, args...)}
}

var _ plugin.KVStore = (*KV)(nil)

// live returns key's entry unless it is absent or expired (then removed).
func (k *KV) live(key string) *kvEntry {
	e := k.m[key]
	if e != nil && !e.exp.IsZero() && !k.now().Before(e.exp) {
		k.bytes -= int64(len(key) + len(e.val))
		delete(k.m, key)
		return nil
	}
	return e
}

func (k *KV) expireAll() {
	for key := range k.m {
		k.live(key)
	}
}

func (k *KV) checkKey(key []byte) error {
	if len(key) == 0 {
		return errf(abi.StatusInvalid, "empty key: a key is 1 or more bytes")
	}
	if len(key) > k.q.MaxKeyBytes {
		return errf(abi.StatusQuota, "key of %d bytes > max_kv_key_bytes[%d]: use a shorter key (hash a long one)", len(key), k.q.MaxKeyBytes)
	}
	return nil
}

func (k *KV) Get(key []byte) ([]byte, uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkKey(key); err != nil {
		return nil, 0, err
	}
	e := k.live(string(key))
	if e == nil {
		return nil, 0, errf(abi.StatusNotFound, "key not found")
	}
	return append([]byte{}, e.val...), e.rev, nil
}

func (k *KV) Set(key, value []byte, ttl time.Duration) (uint64, error) {
	return k.put(key, value, ttl, -1)
}

func (k *KV) CompareAndSet(key, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if rev > math.MaxInt64 {
		return 0, errf(abi.StatusConflict, "revision %d was never given", rev)
	}
	return k.put(key, value, ttl, int64(rev))
}

func (k *KV) put(key, value []byte, ttl time.Duration, ifRev int64) (uint64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkKey(key); err != nil {
		return 0, err
	}
	if len(value) > k.q.MaxValueBytes {
		return 0, errf(abi.StatusQuota, "value of %d bytes > max_kv_value_bytes[%d]: store less, or split it over several keys", len(value), k.q.MaxValueBytes)
	}
	if ttl < 0 {
		return 0, errf(abi.StatusInvalid, "ttl %s: want 0 (no expiry) or more", ttl)
	}
	e := k.live(string(key))
	switch {
	case ifRev == 0 && e != nil:
		return 0, errf(abi.StatusConflict, "key exists (revision %d); compare-and-set with revision 0 only creates", e.rev)
	case ifRev > 0 && e == nil:
		return 0, errf(abi.StatusConflict, "key does not exist, want revision %d", ifRev)
	case ifRev > 0 && e.rev != uint64(ifRev):
		return 0, errf(abi.StatusConflict, "key is at revision %d, not %d: read it again and retry", e.rev, ifRev)
	}
	var exp time.Time
	if ttl > 0 {
		exp = k.now().Add(ttl)
	}
	return k.write(string(key), value, exp, e)
}

func (k *KV) write(key string, value []byte, exp time.Time, old *kvEntry) (uint64, error) {
	oldSize, newSize := int64(0), int64(len(key)+len(value))
	if old != nil {
		oldSize = int64(len(key) + len(old.val))
	} else if int64(len(k.m))+1 > k.q.MaxKeys {
		return 0, errf(abi.StatusQuota, "the tenant holds %d keys = max_kv_keys[%d]: delete keys, give them a TTL, or ask the operator for more", len(k.m), k.q.MaxKeys)
	}
	if newSize > oldSize && k.bytes-oldSize+newSize > k.q.MaxBytes {
		return 0, errf(abi.StatusQuota, "writing %d bytes would make the tenant's state %d bytes > max_kv_bytes[%d]: delete keys, give them a TTL, or ask the operator for more", newSize, k.bytes-oldSize+newSize, k.q.MaxBytes)
	}
	k.rev++
	k.m[key] = &kvEntry{val: bytes.Clone(value), rev: k.rev, exp: exp}
	k.bytes += newSize - oldSize
	return k.rev, nil
}

func (k *KV) Delete(key []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkKey(key); err != nil {
		return err
	}
	e := k.live(string(key))
	if e == nil {
		return errf(abi.StatusNotFound, "key not found")
	}
	k.bytes -= int64(len(key) + len(e.val))
	delete(k.m, string(key))
	return nil
}

func (k *KV) Add(key []byte, delta int64, ttl time.Duration) (int64, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkKey(key); err != nil {
		return 0, err
	}
	if ttl < 0 {
		return 0, errf(abi.StatusInvalid, "ttl %s: want 0 (no expiry) or more", ttl)
	}
	e := k.live(string(key))
	var n int64
	var exp time.Time
	if e != nil {
		var err error
		if n, err = strconv.ParseInt(string(e.val), 10, 64); err != nil {
			return 0, errf(abi.StatusInvalid, "the key holds %d bytes that are not a decimal integer: add works on counters only", len(e.val))
		}
		exp = e.exp
	} else if ttl > 0 {
		exp = k.now().Add(ttl)
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return 0, errf(abi.StatusInvalid, "%d + %d overflows a 64-bit counter", n, delta)
	}
	if _, err := k.write(string(key), strconv.AppendInt(nil, n+delta, 10), exp, e); err != nil {
		return 0, err
	}
	return n + delta, nil
}

func (k *KV) List(prefix, cursor []byte, limit int) ([][]byte, []byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	if len(prefix) > k.q.MaxKeyBytes || len(cursor) > k.q.MaxKeyBytes {
		return nil, nil, errf(abi.StatusInvalid, "prefix or cursor longer than max_kv_key_bytes[%d]: no key can match", k.q.MaxKeyBytes)
	}
	k.expireAll()
	var keys [][]byte
	for key := range k.m {
		if bytes.HasPrefix([]byte(key), prefix) && (len(cursor) == 0 || key > string(cursor)) {
			keys = append(keys, []byte(key))
		}
	}
	slices.SortFunc(keys, bytes.Compare)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	var next []byte
	if len(keys) == limit {
		next = keys[limit-1]
	}
	// imhook cuts a page at 256 KiB of keys; the rest is the next page.
	n := 0
	for i, key := range keys {
		if n += len(key); n > 256<<10 && i > 0 {
			keys, next = keys[:i], keys[i-1]
			break
		}
	}
	return keys, next, nil
}

// WithKV gives the Harness's plugin the state kv (Context.KV), and returns
// the Harness.
func (h *Harness) WithKV(kv *KV) *Harness {
	h.host.KV = kv
	return h
}
