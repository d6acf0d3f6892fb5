package plugins

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// PoolStats is a snapshot of one plugin's instance pool.
type PoolStats struct {
	Live     int    `json:"live"`     // instances alive (idle + in use)
	Idle     int    `json:"idle"`     // instances waiting for a call
	Created  uint64 `json:"created"`  // instances created so far
	Waits    uint64 `json:"waits"`    // calls that had to wait for an instance
	Recycled uint64 `json:"recycled"` // instances closed after MaxCallsPerInstance calls
	Dropped  uint64 `json:"dropped"`  // instances closed after a trap, timeout or limit
	Evicted  uint64 `json:"evicted"`  // idle instances closed to give the global budget to another plugin
	Released uint64 `json:"released"` // idle instances closed after EngineOptions.IdleTimeout unused
}

// pool holds the instances of one plugin: at most max live at once, and each
// one counted against the engine-wide budget.
//
// Why not sync.Pool: wazero keeps every instance reachable from its runtime
// until closed, so instances that sync.Pool drops are never freed; and
// sync.Pool has no bound, while each Go guest instance costs megabytes. This
// pool is a LIFO stack (the most recently used instance has warm caches) with
// a FIFO queue of waiters, like database/sql's connection pool.
type pool struct {
	p      *Plugin
	budget *budget
	max    int

	mu      sync.Mutex
	all     map[*instance]struct{} // every live instance, for oldestCall
	idle    []*instance
	live    int              // idle + in use + being created
	waiters []chan *instance // nil sent = "a slot is yours, create an instance"
	closed  bool
	drained chan struct{} // closed when closed && live == 0
	// stop is set by abort: every instance in use then, and every one
	// created after (for calls queued at the time), is aborted with it.
	stop *stopReason

	created, waits, recycled, dropped, evicted, released atomic.Uint64
}

func newPool(p *Plugin, b *budget, max int) *pool {
	return &pool{p: p, budget: b, max: max, drained: make(chan struct{}), all: make(map[*instance]struct{})}
}

// get returns an instance for one call, creating one when the pool is below
// its bound, or waiting for one until ctx is done (ErrNoInstance). loading
// is set for the load's first instance, which may wait for a CPU slot as
// long as ctx allows (create).
func (pl *pool) get(ctx context.Context, loading bool) (*instance, error) {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(pl.idle); n > 0 {
		i := pl.idle[n-1]
		pl.idle[n-1] = nil
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return i, nil
	}
	if pl.live < pl.max {
		pl.live++
		pl.mu.Unlock()
		return pl.create(ctx, loading)
	}
	ch := make(chan *instance, 1)
	pl.waiters = append(pl.waiters, ch)
	pl.mu.Unlock()
	pl.waits.Add(1)

	select {
	case i, ok := <-ch:
		if !ok {
			return nil, ErrClosed
		}
		if i == nil {
			return pl.create(ctx, loading)
		}
		return i, nil
	case <-ctx.Done():
		pl.mu.Lock()
		removed := false
		for k, w := range pl.waiters {
			if w == ch {
				pl.waiters = append(pl.waiters[:k], pl.waiters[k+1:]...)
				removed = true
				break
			}
		}
		pl.mu.Unlock()
		if !removed {
			// Someone handed us an instance or a slot as we gave up: pass it on.
			if i, ok := <-ch; ok {
				if i == nil {
					pl.releaseSlot()
				} else {
					pl.put(i)
				}
			}
		}
		return nil, ErrNoInstance
	}
}

// create fills a slot the caller already holds (live was counted for it).
// Instantiating runs guest code (_initialize: about 2 ms for a Go guest), so
// it holds a CPU slot like a call does, and a metered _initialize hands it
// to a lighter tenant at its refuels like a call: a tenant whose instances keep being
// dropped and rebuilt cannot take cores outside the fair share. A call's
// instantiation waits for its slot as long as a call would (KindBusy
// after); a load's waits as long as ctx allows.
func (pl *pool) create(ctx context.Context, loading bool) (*instance, error) {
	if err := pl.budget.acquire(ctx, pl); err != nil {
		pl.releaseSlot()
		return nil, err
	}
	share, acct := pl.p.t.e.cpu, &pl.p.t.cpu
	maxWait := share.maxWait
	if loading {
		maxWait = 0
	}
	if _, err := share.acquireWithin(ctx, acct, maxWait); err != nil {
		pl.budget.release()
		pl.releaseSlot()
		return nil, &CallError{Kind: KindBusy, Tenant: pl.p.t.id, Plugin: pl.p.name, Err: fmt.Errorf("instantiate: %w", err)}
	}
	slot := &cpuHold{held: true, since: time.Now()}
	i, err := pl.p.newInstance(slot)
	if slot.held { // _initialize may have yielded it and got none back (KindBusy)
		end := time.Now()
		share.release(acct, end.Sub(slot.since), end)
	}
	if err != nil {
		pl.budget.release()
		pl.releaseSlot()
		return nil, err
	}
	pl.created.Add(1)
	pl.mu.Lock()
	pl.all[i] = struct{}{}
	if r := pl.stop; r != nil {
		i.abort(r.kind, r.err)
	}
	pl.mu.Unlock()
	return i, nil
}

// abort ends the calls of a closed pool without waiting for them: every
// instance in use (its call running in the guest, callStart != 0, or about
// to enter it) is aborted, and so is any instance created after for a call
// that was queued; each such call fails with kind and err at its next
// refuel or host function, or before entering the guest (instance.abort).
// Aborted instances are dropped as their calls return, which drains the
// pool.
func (pl *pool) abort(kind Kind, err error) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.stop == nil {
		pl.stop = &stopReason{kind: kind, err: err}
	}
	for i := range pl.all {
		i.abort(pl.stop.kind, pl.stop.err)
	}
}

// put returns an instance after a call; it is recycled when it has served
// MaxCallsPerInstance calls or is dead.
func (pl *pool) put(i *instance) {
	if i.dead {
		pl.drop(i)
		return
	}
	if i.calls >= pl.p.lim.MaxCallsPerInstance {
		pl.recycled.Add(1)
		pl.discard(i)
		return
	}
	pl.mu.Lock()
	if len(pl.waiters) > 0 { // also after close: waiters are calls in flight
		ch := pl.waiters[0]
		pl.waiters = pl.waiters[1:]
		pl.mu.Unlock()
		ch <- i
		return
	}
	if pl.closed {
		pl.mu.Unlock()
		pl.discard(i)
		return
	}
	i.idleSince = pl.p.t.e.now()
	pl.idle = append(pl.idle, i)
	pl.mu.Unlock()
	if pl.budget.waiting.Load() > 0 {
		// Another pool waits for the budget: it may now evict this instance.
		pl.budget.wake()
	}
}

// drop closes an instance after a trap, timeout or limit.
func (pl *pool) drop(i *instance) {
	pl.dropped.Add(1)
	pl.discard(i)
}

// discard closes an instance and frees its slot and budget.
func (pl *pool) discard(i *instance) {
	pl.mu.Lock()
	delete(pl.all, i)
	pl.mu.Unlock()
	i.close()
	pl.budget.release()
	pl.releaseSlot()
}

// releaseSlot frees one live slot, handing it to the first waiter if any.
func (pl *pool) releaseSlot() {
	pl.mu.Lock()
	if len(pl.waiters) > 0 {
		ch := pl.waiters[0]
		pl.waiters = pl.waiters[1:]
		pl.mu.Unlock()
		ch <- nil
		return
	}
	pl.live--
	if pl.closed && pl.live == 0 {
		close(pl.drained)
	}
	pl.mu.Unlock()
}

// evictIdle closes the least recently used idle instance, keeping its budget
// token for the caller. It reports whether there was one.
func (pl *pool) evictIdle() bool {
	pl.mu.Lock()
	if len(pl.idle) == 0 {
		pl.mu.Unlock()
		return false
	}
	i := pl.idle[0]
	delete(pl.all, i)
	copy(pl.idle, pl.idle[1:])
	pl.idle[len(pl.idle)-1] = nil
	pl.idle = pl.idle[:len(pl.idle)-1]
	pl.live--
	if pl.closed && pl.live == 0 {
		close(pl.drained)
	}
	pl.mu.Unlock()
	pl.evicted.Add(1)
	i.close()
	return true
}

// releaseIdle closes the instances idle since before cutoff, and returns
// how many it closed. The pool grows back on demand: a call that finds no
// idle instance creates one, so a call racing the release either took its
// instance first or creates a new one.
func (pl *pool) releaseIdle(cutoff time.Time) int {
	pl.mu.Lock()
	n := 0 // the stack is LIFO: the longest idle are at its bottom
	for n < len(pl.idle) && pl.idle[n].idleSince.Before(cutoff) {
		n++
	}
	if n == 0 {
		pl.mu.Unlock()
		return 0
	}
	old := slices.Clone(pl.idle[:n])
	pl.idle = slices.Delete(pl.idle, 0, n)
	for _, i := range old {
		delete(pl.all, i)
	}
	pl.live -= n
	if pl.closed && pl.live == 0 {
		close(pl.drained)
	}
	pl.mu.Unlock()
	for _, i := range old {
		i.close()
		pl.budget.release()
	}
	pl.released.Add(uint64(n))
	return n
}

// close stops new calls, frees idle instances and waits until the calls in
// flight have returned theirs. Calls already waiting for an instance are in
// flight too: they are still served, so that a hot swap fails no call that
// entered Call before Close.
func (pl *pool) close(ctx context.Context) error {
	pl.shut()
	select {
	case <-pl.drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shut is close without the wait: new calls get ErrClosed and the idle
// instances are freed.
func (pl *pool) shut() {
	pl.mu.Lock()
	if !pl.closed {
		pl.closed = true
		idle := pl.idle
		pl.idle = nil
		pl.live -= len(idle)
		if pl.live == 0 {
			close(pl.drained)
		}
		pl.mu.Unlock()
		pl.budget.forget(pl)
		pl.mu.Lock()
		for _, i := range idle {
			delete(pl.all, i)
		}
		pl.mu.Unlock()
		for _, i := range idle {
			i.close()
			pl.budget.release()
		}
	} else {
		pl.mu.Unlock()
	}
}

// oldestCall returns when the oldest call running in the pool's instances
// entered its guest, zero when none runs.
func (pl *pool) oldestCall() time.Time {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	var oldest int64
	for i := range pl.all {
		if t := i.callStart.Load(); t != 0 && (oldest == 0 || t < oldest) {
			oldest = t
		}
	}
	if oldest == 0 {
		return time.Time{}
	}
	return time.Unix(0, oldest)
}

// stats returns a snapshot.
func (pl *pool) stats() PoolStats {
	pl.mu.Lock()
	s := PoolStats{Live: pl.live, Idle: len(pl.idle)}
	pl.mu.Unlock()
	s.Created = pl.created.Load()
	s.Waits = pl.waits.Load()
	s.Recycled = pl.recycled.Load()
	s.Dropped = pl.dropped.Load()
	s.Evicted = pl.evicted.Load()
	s.Released = pl.released.Load()
	return s
}

// all returns the registered pools.
func (b *budget) all() []*pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Collect(maps.Keys(b.pools))
}

// budget is the engine-wide bound on live instances. A pool that needs an
// instance when the budget is spent first evicts an idle instance of another
// pool (idle instances are only a cache), and otherwise waits until one is freed.
type budget struct {
	mu    sync.Mutex
	used  int
	max   int
	freed chan struct{} // closed and replaced when a token is released
	pools map[*pool]struct{}

	waiting atomic.Int32 // acquirers waiting on freed; read without mu by put
}

func newBudget(max int) *budget {
	return &budget{max: max, pools: make(map[*pool]struct{})}
}

// register adds a pool whose idle instances may be evicted.
func (b *budget) register(pl *pool) {
	b.mu.Lock()
	b.pools[pl] = struct{}{}
	b.mu.Unlock()
}

// forget removes a closed pool.
func (b *budget) forget(pl *pool) {
	b.mu.Lock()
	delete(b.pools, pl)
	b.mu.Unlock()
}

// acquire takes one token for self, waiting until ctx is done (ErrNoInstance).
func (b *budget) acquire(ctx context.Context, self *pool) error {
	for {
		b.mu.Lock()
		if b.used < b.max {
			b.used++
			b.mu.Unlock()
			return nil
		}
		for pl := range b.pools {
			if pl != self && pl.evictIdle() {
				b.mu.Unlock() // the evicted instance's token is now ours
				return nil
			}
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		ch := b.freed
		b.waiting.Add(1)
		b.mu.Unlock()
		select {
		case <-ch:
			b.waiting.Add(-1)
		case <-ctx.Done():
			b.waiting.Add(-1)
			return ErrNoInstance
		}
	}
}

// wake makes waiting acquirers look again for a token or an idle instance.
func (b *budget) wake() {
	b.mu.Lock()
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.mu.Unlock()
}

// release gives back one token.
func (b *budget) release() {
	b.mu.Lock()
	b.used--
	b.mu.Unlock()
	b.wake()
}
