package plugin

import (
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// KV is the tenant's key-value state: keys and values are bytes, a key is
// one or more bytes (a Go string holds any bytes), and every key is the
// tenant's own: imhook keeps each tenant's keys apart, whatever they hold.
// It needs the grant "kv": a plugin that uses it is refused at upload for a
// tenant without it. Quotas (keys, bytes, key and value size, operations
// per call) are the tenant's limits; going over one is ErrQuota, never a
// crash, so a plugin can go on without its state.
//
// Each method is one host call: a few microseconds on the embedded store, a
// round trip on Redis (docs/performance.md).
type KV struct{ h kvHost }

// KV returns the tenant's state.
func (c *Context) KV() KV {
	h, _ := c.host.(kvHost)
	if h == nil {
		h = noKV{}
	}
	return KV{h}
}

// noKV is the state of a host that has none.
type noKV struct{}

var errNoKV = &HostError{Status: abi.StatusUnavailable, Msg: "this host provides no state"}

func (noKV) kvGet(string) ([]byte, uint64, error)                        { return nil, 0, errNoKV }
func (noKV) kvSet(string, []byte, time.Duration) error                   { return errNoKV }
func (noKV) kvCAS(string, []byte, uint64, time.Duration) (uint64, error) { return 0, errNoKV }
func (noKV) kvDelete(string) error                                       { return errNoKV }
func (noKV) kvAdd(string, int64, time.Duration) (int64, error)           { return 0, errNoKV }
func (noKV) kvList(string, string, int) ([]string, string, error)        { return nil, "", errNoKV }

// Get returns the value of key, or an error matching ErrNotFound when it is
// not set (or expired).
func (kv KV) Get(key string) ([]byte, error) {
	v, _, err := kv.h.kvGet(key)
	return v, err
}

// GetRev returns the value of key and its revision, for CompareAndSet.
func (kv KV) GetRev(key string) ([]byte, uint64, error) {
	return kv.h.kvGet(key)
}

// Set writes value at key. A ttl > 0 makes the key expire after it (at
// millisecond precision); 0 keeps it until deleted.
func (kv KV) Set(key string, value []byte, ttl time.Duration) error {
	return kv.h.kvSet(key, value, ttl)
}

// CompareAndSet writes value at key only when the key's revision is rev (0:
// only when the key does not exist), and returns the new revision; an error
// matching ErrConflict when another write came first. Read, change, then
// CompareAndSet with the revision read, in a loop:
//
//	for {
//		v, rev, err := kv.GetRev(k) // ErrNotFound: rev 0
//		...
//		if _, err = kv.CompareAndSet(k, next(v), rev, 0); !errors.Is(err, plugin.ErrConflict) {
//			break
//		}
//	}
func (kv KV) CompareAndSet(key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	return kv.h.kvCAS(key, value, rev, ttl)
}

// Delete removes key; an error matching ErrNotFound when it was not set.
func (kv KV) Delete(key string) error { return kv.h.kvDelete(key) }

// Add adds delta to the counter at key and returns the sum, atomically
// across concurrent calls and replicas. A missing key counts from 0 and is
// created with ttl; ttl does not move an existing key's expiry, so a
// counter with a TTL counts in a fixed window (a rate limit). The value is
// the sum in decimal text (Get returns "42"); Add on another value is
// ErrInvalid.
func (kv KV) Add(key string, delta int64, ttl time.Duration) (int64, error) {
	return kv.h.kvAdd(key, delta, ttl)
}

// List returns up to limit (1 to 1000) keys starting with prefix, in byte
// order, after cursor ("" for the first page), and the cursor of the next
// page ("" after the last page).
func (kv KV) List(prefix, cursor string, limit int) (keys []string, next string, err error) {
	return kv.h.kvList(prefix, cursor, limit)
}

// ttlMs is a ttl as the ABI takes it: milliseconds, rounding a positive
// sub-millisecond ttl up so it still expires.
func ttlMs(ttl time.Duration) int64 {
	switch {
	case ttl <= 0:
		return int64(ttl / time.Millisecond) // negative: the host refuses it
	case ttl < time.Millisecond:
		return 1
	}
	return int64(ttl / time.Millisecond)
}
