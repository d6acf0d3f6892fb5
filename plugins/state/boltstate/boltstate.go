// Package boltstate keeps plugin state in a bbolt file of its own (state.db
// beside the registry's imhook.db): bbolt allows one write transaction per
// file and fsyncs each, so state writes in the registry's file would wait
// behind multi-megabyte plugin uploads, and theirs behind every counter.
//
// Layout: a bucket per tenant under "tenants", holding a bucket "v" of
// key -> revision (8 bytes) | expiry in unix ms (8 bytes, 0 none) | value,
// a bucket "x" of expiry (8 bytes, big-endian) | key, the index the sweep
// walks, and the counters "keys", "bytes" and "rev". Deleting a tenant
// deletes its bucket. Writes are serialised by bbolt, so quotas hold under
// any number of concurrent writers (concurrent writes share a batch, one
// commit and fsync); expired keys are not found from the
// moment they expire, and are removed by a background sweep and by writes
// of the same tenant.
package boltstate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/abi"
)

var (
	bucketTenants = []byte("tenants")
	bucketValues  = []byte("v")
	bucketExpiry  = []byte("x")
	metaKeys      = []byte("keys")
	metaBytes     = []byte("bytes")
	metaRev       = []byte("rev")
)

const headerLen = 16 // revision, expiry

// batchDelay is bbolt's MaxBatchDelay for the state's writes.
const batchDelay = time.Millisecond

// Options configures Open.
type Options struct {
	// Bolt opens the file (NoSync for tests).
	Bolt boltdb.Options
	// SweepInterval is how often expired keys are removed. Default 1m;
	// negative disables the sweep (tests that call Sweep).
	SweepInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Store is the bbolt backend of plugins/state.
type Store struct {
	db *bbolt.DB
	// writers counts the writes in progress: a write that finds another
	// one joins a bbolt batch (one commit and fsync for the writes that
	// queue meanwhile) instead of waiting for its own.
	writers atomic.Int64
	batch   bool // false only in the benchmark that measures batching
	now     func() time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
}

var _ state.Backend = (*Store)(nil)

// Open opens (creating) the state file at path.
func Open(path string, opts Options) (*Store, error) {
	db, err := boltdb.Open(path, "state", opts.Bolt)
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketTenants)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	// A batch starts at most batchDelay after its first write: about one
	// fsync, the time the writes it gathers would have waited anyway.
	db.MaxBatchDelay = batchDelay
	s := &Store{db: db, now: opts.Now, stop: make(chan struct{}), batch: true}
	if s.now == nil {
		s.now = time.Now
	}
	every := opts.SweepInterval
	if every == 0 {
		every = time.Minute
	}
	if every > 0 {
		s.wg.Add(1)
		go s.sweepLoop(every)
	}
	return s, nil
}

// Close stops the sweep and closes the file.
func (s *Store) Close() error {
	close(s.stop)
	s.wg.Wait()
	return s.db.Close()
}

// LocalReads reports that reads are local and do not block (bbolt readers
// never wait for the writer), so the sandbox keeps its CPU slot for them.
func (s *Store) LocalReads() bool { return true }

func (s *Store) nowMs() uint64 { return uint64(s.now().UnixMilli()) }

func unavailable(err error) error {
	return state.Errorf(abi.StatusUnavailable, "state store (bbolt): %v; the server's disk or file may be failing", err)
}

// decode splits a stored record; live is false when it expired by now.
func decode(rec []byte, now uint64) (rev, exp uint64, val []byte, live bool) {
	if len(rec) < headerLen {
		return 0, 0, nil, false
	}
	rev = binary.BigEndian.Uint64(rec)
	exp = binary.BigEndian.Uint64(rec[8:])
	return rev, exp, rec[headerLen:], exp == 0 || exp > now
}

func expiryKey(exp uint64, key []byte) []byte {
	k := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(k, exp)
	copy(k[8:], key)
	return k
}

func (s *Store) Get(ctx context.Context, tenant string, key []byte) (state.Entry, error) {
	var e state.Entry
	found := false
	now := s.nowMs()
	err := s.db.View(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant))
		if tb == nil {
			return nil
		}
		rev, _, val, live := decode(tb.Bucket(bucketValues).Get(key), now)
		if live {
			found = true
			e = state.Entry{Value: bytes.Clone(val), Rev: rev}
			if e.Value == nil {
				e.Value = []byte{}
			}
		}
		return nil
	})
	if err != nil {
		return e, unavailable(err)
	}
	if !found {
		return e, state.Errorf(abi.StatusNotFound, "key not found")
	}
	return e, nil
}

// tenantTx is one write transaction on a tenant's keyspace.
type tenantTx struct {
	tb, v, x         *bbolt.Bucket
	keys, bytes, rev uint64
	now              uint64
}

// write runs update within ctx: bbolt does not take a context, and a
// commit waits for the writer lock and the disk, so a write whose ctx ends
// first returns ctx's error (the guest's timeout status) and may still be
// applied when the disk answers.
func (s *Store) write(ctx context.Context, tenant string, fn func(t *tenantTx) error) error {
	if ctx.Done() == nil {
		return s.update(tenant, fn)
	}
	done := make(chan error, 1)
	go func() { done <- s.update(tenant, fn) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) update(tenant string, fn func(t *tenantTx) error) error {
	var result error
	run := s.db.Update
	if s.writers.Add(1) > 1 && s.batch {
		// bbolt may run fn again alone when another write of the batch
		// fails; fn sets result and its caller's variables afresh each
		// time, and only bbolt failures fail it.
		run = s.db.Batch
	}
	defer s.writers.Add(-1)
	err := run(func(tx *bbolt.Tx) error {
		tb, err := tx.Bucket(bucketTenants).CreateBucketIfNotExists([]byte(tenant))
		if err != nil {
			return err
		}
		v, err := tb.CreateBucketIfNotExists(bucketValues)
		if err != nil {
			return err
		}
		x, err := tb.CreateBucketIfNotExists(bucketExpiry)
		if err != nil {
			return err
		}
		t := &tenantTx{tb: tb, v: v, x: x, now: s.nowMs(),
			keys: u64(tb.Get(metaKeys)), bytes: u64(tb.Get(metaBytes)), rev: u64(tb.Get(metaRev))}
		if err := t.sweep(8); err != nil {
			return err
		}
		// A refusal (quota, conflict) is the caller's result, not a
		// failed transaction: the sweep above is still committed.
		result = fn(t)
		if result != nil && !errors.As(result, new(*state.Error)) {
			return result // bbolt failed: roll back
		}
		return t.saveMeta()
	})
	if err != nil {
		return unavailable(err)
	}
	return result
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func put64(b *bbolt.Bucket, k []byte, v uint64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return b.Put(k, buf[:])
}

func (t *tenantTx) saveMeta() error {
	if err := put64(t.tb, metaKeys, t.keys); err != nil {
		return err
	}
	if err := put64(t.tb, metaBytes, t.bytes); err != nil {
		return err
	}
	return put64(t.tb, metaRev, t.rev)
}

// sweep removes up to n expired keys (all when n <= 0) and reports how
// many it removed through the counters.
func (t *tenantTx) sweep(n int) error {
	c := t.x.Cursor()
	var dead [][]byte
	for k, _ := c.First(); k != nil && len(k) >= 8 && binary.BigEndian.Uint64(k) <= t.now; k, _ = c.Next() {
		dead = append(dead, bytes.Clone(k))
		if n > 0 && len(dead) >= n {
			break
		}
	}
	for _, xk := range dead {
		if err := t.x.Delete(xk); err != nil {
			return err
		}
		key := xk[8:]
		rec := t.v.Get(key)
		if _, exp, _, _ := decode(rec, t.now); rec != nil && exp == binary.BigEndian.Uint64(xk) {
			t.keys--
			t.bytes -= uint64(len(key) + len(rec) - headerLen)
			if err := t.v.Delete(key); err != nil {
				return err
			}
		}
	}
	return nil
}

// current returns the key's live record, removing it first when it expired.
func (t *tenantTx) current(key []byte) (rev, exp uint64, val []byte, found bool, err error) {
	rec := t.v.Get(key)
	if rec == nil {
		return 0, 0, nil, false, nil
	}
	rev, exp, val, live := decode(rec, t.now)
	if !live {
		return 0, 0, nil, false, t.remove(key, exp, len(val))
	}
	return rev, exp, val, true, nil
}

func (t *tenantTx) remove(key []byte, exp uint64, valLen int) error {
	if exp != 0 {
		if err := t.x.Delete(expiryKey(exp, key)); err != nil {
			return err
		}
	}
	t.keys--
	t.bytes -= uint64(len(key) + valLen)
	return t.v.Delete(key)
}

// write stores val at key (which the caller found or not: found, oldExp,
// oldLen) after checking q, and returns the new revision.
func (t *tenantTx) write(key, val []byte, exp uint64, found bool, oldExp uint64, oldLen int, q state.Quota) (uint64, error) {
	newSize := uint64(len(key) + len(val))
	oldSize := uint64(0)
	if found {
		oldSize = uint64(len(key) + oldLen)
	}
	if !found && q.MaxKeys > 0 && t.keys+1 > uint64(q.MaxKeys) {
		return 0, state.Errorf(abi.StatusQuota, "the tenant holds %d keys = max_kv_keys[%d]: delete keys, give them a TTL, or ask the operator for more", t.keys, q.MaxKeys)
	}
	if q.MaxBytes > 0 && newSize > oldSize && t.bytes-oldSize+newSize > uint64(q.MaxBytes) {
		return 0, state.Errorf(abi.StatusQuota, "writing %d bytes would make the tenant's state %d bytes > max_kv_bytes[%d]: delete keys, give them a TTL, or ask the operator for more", newSize, t.bytes-oldSize+newSize, q.MaxBytes)
	}
	if found && oldExp != 0 && oldExp != exp {
		if err := t.x.Delete(expiryKey(oldExp, key)); err != nil {
			return 0, err
		}
	}
	if exp != 0 && (!found || oldExp != exp) {
		if err := t.x.Put(expiryKey(exp, key), nil); err != nil {
			return 0, err
		}
	}
	t.rev++
	rec := make([]byte, headerLen+len(val))
	binary.BigEndian.PutUint64(rec, t.rev)
	binary.BigEndian.PutUint64(rec[8:], exp)
	copy(rec[headerLen:], val)
	if err := t.v.Put(key, rec); err != nil {
		return 0, err
	}
	if !found {
		t.keys++
	}
	t.bytes = t.bytes - oldSize + newSize
	return t.rev, nil
}

func (t *tenantTx) expiry(ttl time.Duration) uint64 {
	if ttl <= 0 {
		return 0
	}
	return t.now + uint64(max(ttl.Milliseconds(), 1))
}

func (s *Store) Put(ctx context.Context, tenant string, key []byte, p state.Put, q state.Quota) (uint64, error) {
	var rev uint64
	err := s.write(ctx, tenant, func(t *tenantTx) error {
		cur, oldExp, old, found, err := t.current(key)
		if err != nil {
			return err
		}
		switch {
		case p.IfRev == 0 && found:
			return state.Errorf(abi.StatusConflict, "key exists (revision %d); compare-and-set with revision 0 only creates", cur)
		case p.IfRev > 0 && (!found || cur != uint64(p.IfRev)):
			if !found {
				return state.Errorf(abi.StatusConflict, "key does not exist, want revision %d", p.IfRev)
			}
			return state.Errorf(abi.StatusConflict, "key is at revision %d, not %d: read it again and retry", cur, p.IfRev)
		}
		rev, err = t.write(key, p.Value, t.expiry(p.TTL), found, oldExp, len(old), q)
		return err
	})
	return rev, err
}

func (s *Store) Delete(ctx context.Context, tenant string, key []byte) error {
	return s.write(ctx, tenant, func(t *tenantTx) error {
		_, exp, val, found, err := t.current(key)
		if err != nil {
			return err
		}
		if !found {
			return state.Errorf(abi.StatusNotFound, "key not found")
		}
		return t.remove(key, exp, len(val))
	})
}

func (s *Store) Add(ctx context.Context, tenant string, key []byte, delta int64, ttl time.Duration, q state.Quota) (int64, error) {
	var sum int64
	err := s.write(ctx, tenant, func(t *tenantTx) error {
		_, exp, old, found, err := t.current(key)
		if err != nil {
			return err
		}
		var n int64
		if found {
			if n, err = strconv.ParseInt(string(old), 10, 64); err != nil {
				return state.Errorf(abi.StatusInvalid, "the key holds %d bytes that are not a decimal integer: add works on counters only", len(old))
			}
		} else {
			exp = t.expiry(ttl)
		}
		if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
			return state.Errorf(abi.StatusInvalid, "%d + %d overflows a 64-bit counter", n, delta)
		}
		sum = n + delta
		_, err = t.write(key, strconv.AppendInt(nil, sum, 10), exp, found, exp, len(old), q)
		return err
	})
	return sum, err
}

func (s *Store) List(ctx context.Context, tenant string, prefix, after []byte, limit int) ([][]byte, error) {
	var keys [][]byte
	now := s.nowMs()
	err := s.db.View(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant))
		if tb == nil {
			return nil
		}
		c := tb.Bucket(bucketValues).Cursor()
		var k, v []byte
		if after != nil {
			if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			k, v = c.Seek(prefix)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(keys) < limit; k, v = c.Next() {
			if _, _, _, live := decode(v, now); live {
				keys = append(keys, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

func (s *Store) Usage(ctx context.Context, tenant string) (state.Usage, error) {
	var u state.Usage
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant)); tb != nil {
			u = state.Usage{Keys: int64(u64(tb.Get(metaKeys))), Bytes: int64(u64(tb.Get(metaBytes)))}
		}
		return nil
	})
	if err != nil {
		return u, unavailable(err)
	}
	return u, nil
}

func (s *Store) DeleteTenant(ctx context.Context, tenant string) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketTenants).DeleteBucket([]byte(tenant))
		if errors.Is(err, bbolt.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Sweep removes every expired key of every tenant now.
func (s *Store) Sweep() error {
	var tenants [][]byte
	if err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEachBucket(func(k []byte) error {
			tenants = append(tenants, bytes.Clone(k))
			return nil
		})
	}); err != nil {
		return err
	}
	for _, id := range tenants {
		// One transaction per tenant and at most 1000 keys each, so that
		// the sweep never holds the writer for long.
		for more := true; more; {
			before := uint64(0)
			err := s.update(string(id), func(t *tenantTx) error {
				before = t.keys
				if err := t.sweep(1000); err != nil {
					return err
				}
				more = before-t.keys == 1000
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) sweepLoop(every time.Duration) {
	defer s.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			_ = s.Sweep()
		}
	}
}
