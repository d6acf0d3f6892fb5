// Package boltqueue is the embedded queue.Store: one bbolt file (queue.db,
// beside the registry's imhook.db) that one imhook process owns, with an
// index of every pending event in memory and group commit, so that an
// enqueue is durable in about one fsync however many arrive at once.
//
// # Layout
//
// Bucket "tenants" holds a bucket per tenant with two buckets: "p" (pending
// events) and "d" (dead letters), each keyed by an 8-byte big-endian
// sequence number the store assigns (so keys sort in enqueue order, dead
// letters in burial order), valued by queue.Event's binary encoding.
//
// # Group commit
//
// Every write (enqueue, ack, retry, bury) is a function handed to one
// committer goroutine, which runs all the functions waiting when it is free
// in one bbolt transaction and one fsync, then answers them all. While one
// commit syncs, the next batch gathers; nothing waits on a timer, so a lone
// enqueue costs one fsync and a burst costs one fsync per batch.
//
// # Claims
//
// Claims live in memory only: this process is the file's only user, so when
// it dies its claims die with it, and Open finds every event it did not ack
// pending again (ready, or delayed until its NotBefore).
//
// A delivery that begins (Begin) puts the event's sequence number in the
// tenant's bucket "r" (running) in a group commit; Ack, Retry and Bury take
// it out in theirs. An event Open finds there was running when the process
// died: Open counts that as an attempt (Attempt+1, LastError
// queue.DiedError) in the same transaction, so a poison event that crashes
// the process is dead-lettered after the tenant's max attempts.
package boltqueue

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

var (
	bucketTenants = []byte("tenants")
	bucketPending = []byte("p")
	bucketDead    = []byte("d")
	bucketRunning = []byte("r")
	bucketMeta    = []byte("meta")
	keyFormat     = []byte("format")
	format        = []byte("imhook-queue-1")
)

// fillPercent is the buckets' page fill before a split (bbolt's default is
// 0.5, for random inserts).
const fillPercent = 0.95

// Options configure Open.
type Options struct {
	// Bolt is how the file is opened (lock wait; NoSync for tests only).
	Bolt boltdb.Options
	// MaxBatch bounds the writes committed in one transaction. Default 4096.
	MaxBatch int
}

// Store is the bbolt queue.Store. Build it with Open.
type Store struct {
	db       *bbolt.DB
	ops      chan *op
	maxBatch int
	closed   chan struct{}
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	tenants map[string]*tenant

	commits    atomic.Int64 // transactions committed, for benchmarks
	commitTime atomic.Int64 // their total duration, ns
}

// tenant is the in-memory index of one tenant's events.
type tenant struct {
	nextSeq   uint64
	ready     []uint64             // seqs, ascending
	delayed   map[uint64]time.Time // seq -> NotBefore
	nextDue   time.Time            // the earliest NotBefore in delayed (zero: none)
	claimed   map[uint64]bool
	enqueued  map[uint64]int64 // seq -> Enqueued (unix ns) of every pending event
	reserving int              // enqueues committing now
	dead      []uint64         // seqs of dead letters, ascending
	deadIDs   map[string]uint64
}

func newTenant() *tenant {
	return &tenant{nextSeq: 1, delayed: map[uint64]time.Time{}, claimed: map[uint64]bool{},
		enqueued: map[uint64]int64{}, deadIDs: map[string]uint64{}}
}

// delay indexes a retry due at at.
func (t *tenant) delay(seq uint64, at time.Time) {
	t.delayed[seq] = at
	if t.nextDue.IsZero() || at.Before(t.nextDue) {
		t.nextDue = at
	}
}

func (t *tenant) pending() int { return len(t.ready) + len(t.delayed) + len(t.claimed) }

// op is one write for the committer.
type op struct {
	fn   func(tx *bbolt.Tx) error
	done chan error
}

// Open opens (creating) the queue file at path and indexes its events.
//
// # Errors
//
// As boltdb.Open (locked, not a bbolt file), and when the file is another
// store's ("... is not an imhook queue file").
func Open(path string, opt Options) (*Store, error) {
	db, err := boltdb.Open(path, "queue", opt.Bolt)
	if err != nil {
		return nil, err
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = 4096
	}
	s := &Store{db: db, ops: make(chan *op, opt.MaxBatch), maxBatch: opt.MaxBatch,
		closed: make(chan struct{}), done: make(chan struct{}), tenants: map[string]*tenant{}}
	if err := s.load(path); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.commit()
	return s, nil
}

// load checks the format and builds the index.
func (s *Store) load(path string) error {
	now := time.Now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("queue file %s holds another store's data; it is not an imhook queue file (the queue keeps queue.db of its own)", path)
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if f := meta.Get(keyFormat); f == nil {
			if err := meta.Put(keyFormat, format); err != nil {
				return err
			}
		} else if string(f) != string(format) {
			return fmt.Errorf("queue file %s has format %q, want %q: it is not an imhook queue file of this version", path, f, format)
		}
		tb, err := tx.CreateBucketIfNotExists(bucketTenants)
		if err != nil {
			return err
		}
		return tb.ForEachBucket(func(name []byte) error {
			t := newTenant()
			b := tb.Bucket(name)
			var ev queue.Event
			var died []uint64 // running when the process died
			if p := b.Bucket(bucketPending); p != nil {
				if err := p.ForEach(func(k, v []byte) error {
					seq := binary.BigEndian.Uint64(k)
					if err := ev.UnmarshalBinary(v); err != nil {
						return fmt.Errorf("queue file %s: tenant[%s] event %d: %w", path, name, seq, err)
					}
					if r := b.Bucket(bucketRunning); r != nil && r.Get(k) != nil {
						died = append(died, seq)
					}
					t.enqueued[seq] = ev.Enqueued.UnixNano()
					if ev.NotBefore.After(now) {
						t.delay(seq, ev.NotBefore)
					} else {
						t.ready = append(t.ready, seq)
					}
					t.nextSeq = max(t.nextSeq, seq+1)
					return nil
				}); err != nil {
					return err
				}
			}
			if err := countDied(b, died); err != nil {
				return fmt.Errorf("queue file %s: tenant[%s]: %w", path, name, err)
			}
			if d := b.Bucket(bucketDead); d != nil {
				if err := d.ForEach(func(k, v []byte) error {
					seq := binary.BigEndian.Uint64(k)
					if err := ev.UnmarshalBinary(v); err != nil {
						return fmt.Errorf("queue file %s: tenant[%s] dead letter %d: %w", path, name, seq, err)
					}
					t.dead = append(t.dead, seq)
					t.deadIDs[ev.ID] = seq
					t.nextSeq = max(t.nextSeq, seq+1)
					return nil
				}); err != nil {
					return err
				}
			}
			s.tenants[string(name)] = t
			return nil
		})
	})
}

// countDied counts the death of the deliveries of seqs (running when the
// process died) as an attempt each, in the tenant's bucket b, and clears
// the running bucket.
func countDied(b *bbolt.Bucket, seqs []uint64) error {
	p := b.Bucket(bucketPending)
	for _, seq := range seqs {
		var ev queue.Event
		if err := ev.UnmarshalBinary(p.Get(key(seq))); err != nil {
			return err
		}
		ev.LastError = fmt.Sprintf("%s (attempt %d)", queue.DiedError, ev.Attempt)
		ev.Attempt++
		if err := p.Put(key(seq), ev.AppendBinary(nil)); err != nil {
			return err
		}
	}
	if b.Bucket(bucketRunning) != nil {
		return b.DeleteBucket(bucketRunning)
	}
	return nil
}

// commit is the committer goroutine: one transaction per batch of waiting
// writes.
func (s *Store) commit() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	for {
		var first *op
		select {
		case first = <-s.ops:
		case <-s.closed:
			// Drain what was submitted before Close.
			select {
			case first = <-s.ops:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
	gather:
		for len(batch) < s.maxBatch {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break gather
			}
		}
		start := time.Now()
		err := s.db.Update(func(tx *bbolt.Tx) error {
			for _, o := range batch {
				if err := o.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
		s.commits.Add(1)
		s.commitTime.Add(int64(time.Since(start)))
		for _, o := range batch {
			o.done <- err
		}
	}
}

// write runs fn in the next group commit and waits until it is durable.
func (s *Store) write(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	select {
	case <-s.closed:
		return queue.ErrClosed
	default:
	}
	select {
	case s.ops <- o:
	case <-s.closed:
		return queue.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once submitted the write happens; wait for it whatever ctx says, so
	// the index matches the file.
	return <-o.done
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// buckets returns the tenant's pending and dead buckets, creating them.
func buckets(tx *bbolt.Tx, tenant string) (p, d *bbolt.Bucket, err error) {
	tb, err := tx.Bucket(bucketTenants).CreateBucketIfNotExists([]byte(tenant))
	if err != nil {
		return nil, nil, err
	}
	if p, err = tb.CreateBucketIfNotExists(bucketPending); err != nil {
		return nil, nil, err
	}
	d, err = tb.CreateBucketIfNotExists(bucketDead)
	// Keys only grow (sequence numbers): fill pages before splitting them
	// rather than leave them half empty, which halves the pages a commit of
	// new events writes.
	p.FillPercent, d.FillPercent = fillPercent, fillPercent
	return p, d, err
}

func (s *Store) tenantLocked(id string) *tenant {
	t := s.tenants[id]
	if t == nil {
		t = newTenant()
		s.tenants[id] = t
	}
	return t
}

// Enqueue implements queue.Store.
func (s *Store) Enqueue(ctx context.Context, ev *queue.Event, maxDepth int) error {
	s.mu.Lock()
	t := s.tenantLocked(ev.Tenant)
	if n := t.pending() + t.reserving; n >= maxDepth {
		s.mu.Unlock()
		return &queue.FullError{Tenant: ev.Tenant, Depth: n}
	}
	t.reserving++
	seq := t.nextSeq
	t.nextSeq++
	s.mu.Unlock()

	v := ev.AppendBinary(nil)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		p, _, err := buckets(tx, ev.Tenant)
		if err != nil {
			return err
		}
		return p.Put(key(seq), v)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	t.reserving--
	if err != nil {
		return fmt.Errorf("queue: store event: %w", err)
	}
	t.enqueued[seq] = ev.Enqueued.UnixNano()
	// Usually the last; concurrent enqueues may commit in one batch in
	// either order.
	i, _ := slices.BinarySearch(t.ready, seq)
	t.ready = slices.Insert(t.ready, i, seq)
	return nil
}

// Claim implements queue.Store: due retries first (earliest due first),
// then ready events in sequence order.
func (s *Store) Claim(ctx context.Context, id string, n int, now time.Time) ([]*queue.Event, error) {
	s.mu.Lock()
	t := s.tenants[id]
	if t == nil {
		s.mu.Unlock()
		return nil, nil
	}
	var seqs []uint64
	// Look through the delayed retries only when one is due: a claim then
	// costs nothing for the retries still waiting.
	if len(t.delayed) > 0 && !t.nextDue.After(now) {
		type due struct {
			seq uint64
			at  time.Time
		}
		var ds []due
		for seq, at := range t.delayed {
			if !at.After(now) {
				ds = append(ds, due{seq, at})
			}
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i].at.Before(ds[j].at) })
		for _, d := range ds {
			if len(seqs) == n {
				break
			}
			delete(t.delayed, d.seq)
			seqs = append(seqs, d.seq)
		}
		t.nextDue = time.Time{}
		for _, at := range t.delayed {
			if t.nextDue.IsZero() || at.Before(t.nextDue) {
				t.nextDue = at
			}
		}
	}
	for len(seqs) < n && len(t.ready) > 0 {
		seqs = append(seqs, t.ready[0])
		t.ready = t.ready[1:]
	}
	for _, seq := range seqs {
		t.claimed[seq] = true
	}
	s.mu.Unlock()
	if len(seqs) == 0 {
		return nil, nil
	}
	out := make([]*queue.Event, 0, len(seqs))
	err := s.db.View(func(tx *bbolt.Tx) error {
		p := tx.Bucket(bucketTenants).Bucket([]byte(id)).Bucket(bucketPending)
		for _, seq := range seqs {
			v := p.Get(key(seq))
			if v == nil {
				return fmt.Errorf("queue: tenant[%s] event %d is indexed but not in the file", id, seq)
			}
			ev := &queue.Event{Handle: string(key(seq))}
			if err := ev.UnmarshalBinary(v); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		s.mu.Lock()
		for _, seq := range seqs[len(out):] {
			delete(t.claimed, seq) // unreadable: leave it claimed no more, nor ready
			delete(t.enqueued, seq)
		}
		s.mu.Unlock()
		return out, err
	}
	return out, nil
}

// Begin implements queue.Store: the event's sequence number goes into the
// tenant's running bucket in the next group commit, and Begin returns once
// that is durable.
func (s *Store) Begin(ctx context.Context, ev *queue.Event) error {
	_, seq, ok := s.claimedSeq(ev)
	if !ok {
		return fmt.Errorf("queue: begin: tenant[%s] event %s is not claimed here", ev.Tenant, ev.ID)
	}
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		r, err := running(tx, ev.Tenant)
		if err != nil {
			return err
		}
		return r.Put(key(seq), nil)
	})
	if err != nil {
		return fmt.Errorf("queue: begin: %w", err)
	}
	return nil
}

// running returns the tenant's bucket of deliveries running, creating it.
func running(tx *bbolt.Tx, tenant string) (*bbolt.Bucket, error) {
	tb, err := tx.Bucket(bucketTenants).CreateBucketIfNotExists([]byte(tenant))
	if err != nil {
		return nil, err
	}
	return tb.CreateBucketIfNotExists(bucketRunning)
}

// ended removes seq from the tenant's running deliveries, if there.
func ended(tx *bbolt.Tx, tenant string, seq uint64) error {
	if tb := tx.Bucket(bucketTenants).Bucket([]byte(tenant)); tb != nil {
		if r := tb.Bucket(bucketRunning); r != nil {
			return r.Delete(key(seq))
		}
	}
	return nil
}

// claimedSeq returns the seq of a claimed event, or false.
func (s *Store) claimedSeq(ev *queue.Event) (*tenant, uint64, bool) {
	if len(ev.Handle) != 8 {
		return nil, 0, false
	}
	seq := binary.BigEndian.Uint64([]byte(ev.Handle))
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[ev.Tenant]
	if t == nil || !t.claimed[seq] {
		return nil, 0, false
	}
	return t, seq, true
}

// Ack implements queue.Store. The delete joins the next group commit, and
// Ack does not wait for it: a delivery's worker is free at once rather than
// after an fsync, and a crash before that commit only delivers the event
// again, which at least once allows.
func (s *Store) Ack(ctx context.Context, ev *queue.Event) error {
	t, seq, ok := s.claimedSeq(ev)
	if !ok {
		return nil
	}
	s.mu.Lock()
	delete(t.claimed, seq)
	delete(t.enqueued, seq)
	s.mu.Unlock()
	o := &op{done: make(chan error, 1), fn: func(tx *bbolt.Tx) error {
		p, _, err := buckets(tx, ev.Tenant)
		if err != nil {
			return err
		}
		if err := ended(tx, ev.Tenant, seq); err != nil {
			return err
		}
		return p.Delete(key(seq))
	}}
	select {
	case s.ops <- o:
		return nil
	case <-s.closed:
		return queue.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retry implements queue.Store.
func (s *Store) Retry(ctx context.Context, ev *queue.Event) error {
	t, seq, ok := s.claimedSeq(ev)
	if !ok {
		return nil
	}
	v := ev.AppendBinary(nil)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		p, _, err := buckets(tx, ev.Tenant)
		if err != nil {
			return err
		}
		if err := ended(tx, ev.Tenant, seq); err != nil {
			return err
		}
		return p.Put(key(seq), v)
	})
	if err != nil {
		return fmt.Errorf("queue: retry: %w", err)
	}
	s.mu.Lock()
	delete(t.claimed, seq)
	t.delay(seq, ev.NotBefore)
	s.mu.Unlock()
	return nil
}

// Bury implements queue.Store.
func (s *Store) Bury(ctx context.Context, ev *queue.Event, maxDead int) (int, error) {
	t, seq, ok := s.claimedSeq(ev)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	dseq := t.nextSeq
	t.nextSeq++
	var discard []uint64
	if n := len(t.dead) + 1 - max(maxDead, 1); n > 0 {
		discard = slices.Clone(t.dead[:n])
	}
	s.mu.Unlock()
	v := ev.AppendBinary(nil)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		p, d, err := buckets(tx, ev.Tenant)
		if err != nil {
			return err
		}
		if err := p.Delete(key(seq)); err != nil {
			return err
		}
		if err := ended(tx, ev.Tenant, seq); err != nil {
			return err
		}
		for _, k := range discard {
			if err := d.Delete(key(k)); err != nil {
				return err
			}
		}
		return d.Put(key(dseq), v)
	})
	if err != nil {
		return 0, fmt.Errorf("queue: dead-letter: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(t.claimed, seq)
	delete(t.enqueued, seq)
	for _, k := range discard {
		t.removeDead(k)
	}
	i, _ := slices.BinarySearch(t.dead, dseq)
	t.dead = slices.Insert(t.dead, i, dseq)
	t.deadIDs[ev.ID] = dseq
	return len(discard), nil
}

// removeDead drops a dead letter from the index.
func (t *tenant) removeDead(seq uint64) {
	if i, ok := slices.BinarySearch(t.dead, seq); ok {
		t.dead = slices.Delete(t.dead, i, i+1)
	}
	for id, s := range t.deadIDs {
		if s == seq {
			delete(t.deadIDs, id)
			break
		}
	}
}

// Tenants implements queue.Store.
func (s *Store) Tenants(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, t := range s.tenants {
		if t.pending() > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Stats implements queue.Store.
func (s *Store) Stats(_ context.Context, id string) (queue.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if t == nil {
		return queue.Stats{}, nil
	}
	st := queue.Stats{Ready: len(t.ready), Delayed: len(t.delayed), Claimed: len(t.claimed), Dead: len(t.dead)}
	st.Pending = st.Ready + st.Delayed + st.Claimed
	var oldest int64
	for _, ns := range t.enqueued {
		if oldest == 0 || ns < oldest {
			oldest = ns
		}
	}
	if oldest != 0 {
		st.Oldest = time.Unix(0, oldest)
	}
	return st, nil
}

// Dead implements queue.Store.
func (s *Store) Dead(_ context.Context, id, after string, limit int) ([]*queue.Event, error) {
	s.mu.Lock()
	t := s.tenants[id]
	if t == nil {
		t = newTenant()
	}
	seqs := t.dead
	if after != "" {
		a, ok := t.deadIDs[after]
		if !ok {
			s.mu.Unlock()
			return nil, fmt.Errorf("dead letter %s (the list's after): %w", after, queue.ErrNotFound)
		}
		i, _ := slices.BinarySearch(seqs, a)
		seqs = seqs[i+1:]
	}
	seqs = slices.Clone(seqs[:min(limit, len(seqs))])
	s.mu.Unlock()
	return s.readDead(id, seqs)
}

func (s *Store) readDead(id string, seqs []uint64) ([]*queue.Event, error) {
	out := make([]*queue.Event, 0, len(seqs))
	err := s.db.View(func(tx *bbolt.Tx) error {
		tb := tx.Bucket(bucketTenants).Bucket([]byte(id))
		if tb == nil || tb.Bucket(bucketDead) == nil {
			return nil
		}
		d := tb.Bucket(bucketDead)
		for _, seq := range seqs {
			v := d.Get(key(seq))
			if v == nil {
				continue // purged meanwhile
			}
			ev := &queue.Event{}
			if err := ev.UnmarshalBinary(v); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	return out, err
}

// DeadEvent implements queue.Store.
func (s *Store) DeadEvent(_ context.Context, id, eventID string) (*queue.Event, error) {
	s.mu.Lock()
	var seq uint64
	ok := false
	if t := s.tenants[id]; t != nil {
		seq, ok = t.deadIDs[eventID]
	}
	s.mu.Unlock()
	if !ok {
		return nil, queue.ErrNotFound
	}
	evs, err := s.readDead(id, []uint64{seq})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, queue.ErrNotFound
	}
	return evs[0], nil
}

// Revive implements queue.Store.
func (s *Store) Revive(ctx context.Context, id, eventID string) error {
	ev, err := s.DeadEvent(ctx, id, eventID)
	if err != nil {
		return err
	}
	s.mu.Lock()
	t := s.tenants[id]
	dseq, ok := t.deadIDs[eventID]
	if !ok {
		s.mu.Unlock()
		return queue.ErrNotFound
	}
	t.removeDead(dseq) // now ours: a concurrent Revive or Purge finds nothing
	seq := t.nextSeq
	t.nextSeq++
	t.reserving++
	s.mu.Unlock()
	ev.Attempt, ev.NotBefore, ev.Died = 1, time.Time{}, time.Time{}
	v := ev.AppendBinary(nil)
	err = s.write(ctx, func(tx *bbolt.Tx) error {
		p, d, err := buckets(tx, id)
		if err != nil {
			return err
		}
		if err := d.Delete(key(dseq)); err != nil {
			return err
		}
		return p.Put(key(seq), v)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	t.reserving--
	if err != nil {
		i, _ := slices.BinarySearch(t.dead, dseq)
		t.dead = slices.Insert(t.dead, i, dseq)
		t.deadIDs[eventID] = dseq
		return fmt.Errorf("queue: revive: %w", err)
	}
	t.enqueued[seq] = ev.Enqueued.UnixNano()
	i, _ := slices.BinarySearch(t.ready, seq)
	t.ready = slices.Insert(t.ready, i, seq)
	return nil
}

// Purge implements queue.Store.
func (s *Store) Purge(ctx context.Context, id, eventID string) (int, error) {
	s.mu.Lock()
	t := s.tenants[id]
	if t == nil {
		s.mu.Unlock()
		return 0, nil
	}
	var seqs []uint64
	if eventID == "" {
		seqs = slices.Clone(t.dead)
		t.dead = nil
		clear(t.deadIDs)
	} else if seq, ok := t.deadIDs[eventID]; ok {
		seqs = []uint64{seq}
		t.removeDead(seq)
	}
	s.mu.Unlock()
	if len(seqs) == 0 {
		return 0, nil
	}
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		_, d, err := buckets(tx, id)
		if err != nil {
			return err
		}
		for _, seq := range seqs {
			if err := d.Delete(key(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: purge: %w", err)
	}
	return len(seqs), nil
}

// DeleteTenant implements queue.Store: the tenant's bucket goes in one
// commit, its index at once (claims still running end as no-ops).
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	s.mu.Lock()
	delete(s.tenants, id)
	s.mu.Unlock()
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketTenants).DeleteBucket([]byte(id))
		if errors.Is(err, bbolterrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: delete tenant[%s]: %w", id, err)
	}
	return nil
}

// Close implements queue.Store: writes submitted before it are committed.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		<-s.done
		err = s.db.Close()
	})
	return err
}

var _ queue.Store = (*Store)(nil)
