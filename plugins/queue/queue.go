package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options and Limits fields left zero.
const (
	DefaultWorkers     = 32
	DefaultPerTenant   = 4
	DefaultTimeout     = 30 * time.Second
	DefaultMinBackoff  = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultPoll        = 250 * time.Millisecond
	DefaultMaxDepth    = 10000
	DefaultMaxAttempts = 8
)

// Outcome is what processing one delivery came to.
type Outcome struct {
	// Err is nil when the event is processed: it is acked.
	Err error
	// Retry says Err may pass (a trap, a limit, a failed out-call, the
	// plugin asked): the event is retried after a backoff, up to the
	// tenant's MaxAttempts, then dead-lettered. Without it a failure is
	// permanent and the event is dead-lettered at once.
	Retry bool
	// After is the least delay before the retry the plugin asked for; 0
	// leaves it to the backoff. It is capped at Options.MaxBackoff.
	After time.Duration
}

// Limits are one tenant's queue settings.
type Limits struct {
	// MaxDepth bounds the tenant's pending events (Enqueue refuses more)
	// and, separately, its dead letters (the oldest are discarded).
	// Default DefaultMaxDepth.
	MaxDepth int
	// MaxAttempts bounds the deliveries of one event, the first included.
	// Default DefaultMaxAttempts.
	MaxAttempts int
}

// WithDefaults fills zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttempts <= 0 {
		l.MaxAttempts = DefaultMaxAttempts
	}
	return l
}

// Options configure a Queue.
type Options struct {
	// Store keeps the events. Required.
	Store Store
	// Process runs one delivery: the host runs the tenant's plugins.
	// ctx ends after Timeout, or when Shutdown gives up waiting. Required.
	Process func(ctx context.Context, ev *Event) Outcome
	// Limits returns a tenant's settings; nil gives every tenant the
	// defaults.
	Limits func(tenant string) Limits
	// Workers bounds the deliveries running at once. Default DefaultWorkers.
	Workers int
	// PerTenant bounds one tenant's deliveries running at once, so a slow
	// tenant holds at most that many workers. Default DefaultPerTenant
	// (at most Workers).
	PerTenant int
	// Timeout bounds one delivery. Default DefaultTimeout.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before a retry: MinBackoff
	// doubled per attempt, capped at MaxBackoff, the actual delay drawn
	// between half and all of it (jitter).
	MinBackoff, MaxBackoff time.Duration
	// Poll is how often the dispatcher looks for events it was not told of:
	// retries come due, events another replica enqueued, claims a crashed
	// replica left. Default DefaultPoll.
	Poll time.Duration
	// Logger receives dead letters and store failures; nil discards.
	Logger *slog.Logger
	// Paused, when set, is asked before each round of claims: while it
	// returns an error (the shared store lost data and waits for the
	// operator) no event is claimed, and the pause and its end are logged
	// once each. Enqueue is the Store's business.
	Paused func() error
}

// Queue is the service: Enqueue stores an event durably, Start runs workers
// that claim events fairly across tenants and process them, Shutdown stops
// them. It is safe for concurrent use.
type Queue struct {
	opt Options
	log *slog.Logger

	wake     chan struct{}
	runCtx   context.Context
	cancel   context.CancelFunc
	started  atomic.Bool
	stopping atomic.Bool
	done     chan struct{}
	workers  sync.WaitGroup
	slots    chan struct{}

	mu       sync.Mutex
	inFlight map[string]int      // claimed by this process, per tenant
	counts   map[string]*Counts  // per tenant
	dirty    map[string]struct{} // tenants enqueued to since the dispatcher's last look
}

// Counts are what this process did with one tenant's events since it
// started: monotonic counters for metrics.
type Counts struct {
	Enqueued  uint64 `json:"enqueued"`
	Refused   uint64 `json:"refused_full"`
	Processed uint64 `json:"processed"`
	Retried   uint64 `json:"retried"`
	Dead      uint64 `json:"dead_lettered"`
	Discarded uint64 `json:"dead_discarded"`
}

// New returns a Queue; Start starts its workers. Enqueue works before Start.
func New(opt Options) (*Queue, error) {
	if opt.Store == nil || opt.Process == nil {
		return nil, errors.New("queue: Options.Store and Options.Process are required")
	}
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.PerTenant <= 0 {
		opt.PerTenant = DefaultPerTenant
	}
	opt.PerTenant = min(opt.PerTenant, opt.Workers)
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = DefaultMinBackoff
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = DefaultMaxBackoff
	}
	opt.MaxBackoff = max(opt.MaxBackoff, opt.MinBackoff)
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Queue{
		opt: opt, log: log,
		wake:     make(chan struct{}, 1),
		runCtx:   ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		slots:    make(chan struct{}, opt.Workers),
		inFlight: map[string]int{},
		counts:   map[string]*Counts{},
		dirty:    map[string]struct{}{},
	}, nil
}

func (q *Queue) limits(tenant string) Limits {
	if q.opt.Limits == nil {
		return Limits{}.WithDefaults()
	}
	return q.opt.Limits(tenant).WithDefaults()
}

// Enqueue stores a new event for tenant and returns it once it is durable.
// It returns a *FullError (errors.Is ErrFull) when the tenant's queue is
// full, ErrClosed after Shutdown began.
func (q *Queue) Enqueue(ctx context.Context, tenant, command string, body []byte) (*Event, error) {
	if q.stopping.Load() {
		return nil, ErrClosed
	}
	now := time.Now()
	ev := &Event{ID: NewID(now), Tenant: tenant, Command: command, Body: body, Enqueued: now, Attempt: 1}
	err := q.opt.Store.Enqueue(ctx, ev, q.limits(tenant).MaxDepth)
	q.mu.Lock()
	c := q.countsLocked(tenant)
	if errors.Is(err, ErrFull) {
		c.Refused++
	} else if err == nil {
		c.Enqueued++
		q.dirty[tenant] = struct{}{}
	}
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	q.poke()
	return ev, nil
}

func (q *Queue) countsLocked(tenant string) *Counts {
	c := q.counts[tenant]
	if c == nil {
		c = &Counts{}
		q.counts[tenant] = c
	}
	return c
}

// poke wakes the dispatcher.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Start runs the dispatcher and its workers until Shutdown.
func (q *Queue) Start() {
	if !q.started.CompareAndSwap(false, true) {
		return
	}
	go q.dispatch()
}

// Shutdown stops claiming events and waits for the deliveries running, up to
// ctx; then it cancels them and leaves their events claimed, to be delivered
// again after a restart (or by another replica). It does not close the
// Store.
func (q *Queue) Shutdown(ctx context.Context) error {
	if !q.stopping.CompareAndSwap(false, true) {
		return nil
	}
	q.poke()
	if q.started.Load() {
		<-q.done
	}
	waited := make(chan struct{})
	go func() { q.workers.Wait(); close(waited) }()
	select {
	case <-waited:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel()
		<-waited
		return fmt.Errorf("queue: deliveries still running at shutdown were cancelled; their events run again after the restart: %w", ctx.Err())
	}
}

// dispatch hands events to workers: in rounds over the tenants with pending
// events, one event per tenant per round (round-robin), skipping a tenant
// that has PerTenant deliveries running, until the workers are all busy or
// no tenant has a due event; then it waits for a poke or the next poll.
func (q *Queue) dispatch() {
	defer close(q.done)
	var (
		ring     []string            // tenants to serve, in round-robin order
		idle     = map[string]bool{} // claimed nothing since the last poll
		next     int
		lastPoll time.Time
	)
	poll := time.NewTimer(0)
	defer poll.Stop()
	var pausedBy error
	for !q.stopping.Load() {
		if q.opt.Paused != nil {
			err := q.opt.Paused()
			switch {
			case err != nil && pausedBy == nil:
				q.log.Error("queue: workers paused: no event is claimed until the store can be written to", "err", err)
			case err == nil && pausedBy != nil:
				q.log.Info("queue: workers resumed")
			}
			if pausedBy = err; err != nil {
				poll.Reset(q.opt.Poll)
				select {
				case <-q.wake:
				case <-poll.C:
				}
				continue
			}
		}
		if time.Since(lastPoll) >= q.opt.Poll {
			lastPoll = time.Now()
			ts, err := q.opt.Store.Tenants(q.runCtx)
			if err != nil {
				q.log.Error("queue: list tenants with pending events failed; retrying at the next poll", "err", err)
			}
			ring = mergeRing(ring, ts)
			clear(idle)
		}
		q.mu.Lock()
		for t := range q.dirty {
			if !slices.Contains(ring, t) {
				ring = append(ring, t)
			}
			delete(idle, t)
		}
		clear(q.dirty)
		q.mu.Unlock()

		progressed := false
		for k := 0; k < len(ring) && !q.stopping.Load(); k++ {
			t := ring[(next+k)%len(ring)]
			if idle[t] || !q.hasRoom(t) {
				continue
			}
			select {
			case q.slots <- struct{}{}:
			default:
				k = len(ring) // every worker is busy
				continue
			}
			evs, err := q.opt.Store.Claim(q.runCtx, t, 1, time.Now())
			if err != nil || len(evs) == 0 {
				<-q.slots
				if err != nil {
					q.log.Error("queue: claim failed; retrying at the next poll", "tenant", t, "err", err)
				}
				idle[t] = true
				continue
			}
			progressed = true
			q.mu.Lock()
			q.inFlight[t]++
			q.mu.Unlock()
			q.workers.Add(1)
			go q.deliver(evs[0])
		}
		if len(ring) > 0 {
			next = (next + 1) % len(ring)
		}
		if progressed {
			continue
		}
		poll.Reset(q.opt.Poll - time.Since(lastPoll))
		select {
		case <-q.wake:
		case <-poll.C:
		}
	}
}

// mergeRing keeps ring's order and appends the tenants of ts it lacks;
// tenants no longer listed stay until they claim nothing (cheap) and drop
// out at the next merge.
func mergeRing(ring, ts []string) []string {
	keep := ring[:0]
	for _, t := range ring {
		if slices.Contains(ts, t) {
			keep = append(keep, t)
		}
	}
	for _, t := range ts {
		if !slices.Contains(keep, t) {
			keep = append(keep, t)
		}
	}
	return keep
}

func (q *Queue) hasRoom(tenant string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight[tenant] < q.opt.PerTenant
}

// deliver processes one claimed event and ends its claim.
func (q *Queue) deliver(ev *Event) {
	defer q.workers.Done()
	defer func() {
		q.mu.Lock()
		q.inFlight[ev.Tenant]--
		q.mu.Unlock()
		<-q.slots
		q.poke()
	}()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(q.runCtx), 10*time.Second)
	defer scancel()
	lim := q.limits(ev.Tenant)
	if ev.Attempt > lim.MaxAttempts {
		// Its earlier deliveries died with the process (Store.Begin): a
		// poison event is not run again.
		ev.Attempt-- // the deliveries that ran; this one does not
		q.bury(sctx, ev, lim, fmt.Sprintf("%d attempts (queue.max_attempts %d) used, the last by a delivery the process died in", ev.Attempt, lim.MaxAttempts))
		return
	}
	if err := q.opt.Store.Begin(sctx, ev); err != nil {
		q.log.Error("queue: recording the start of a delivery failed; the event runs again later", "tenant", ev.Tenant, "event_id", ev.ID, "err", err)
		q.release(sctx, ev, q.delay(ev.Attempt, 0))
		return
	}
	ctx, cancel := context.WithTimeout(q.runCtx, q.opt.Timeout)
	out := q.opt.Process(ctx, ev)
	cancel()
	if out.Err != nil && q.runCtx.Err() != nil {
		// Shutdown cut the delivery short: hand the event back unused, it
		// runs again after the restart (or on another replica).
		q.release(sctx, ev, 0)
		return
	}
	var err error
	switch {
	case out.Err == nil:
		err = q.opt.Store.Ack(sctx, ev)
		q.count(ev.Tenant, func(c *Counts) { c.Processed++ })
	case out.Retry && ev.Attempt < lim.MaxAttempts:
		ev.LastError = out.Err.Error()
		ev.NotBefore = time.Now().Add(q.delay(ev.Attempt, out.After))
		ev.Attempt++
		err = q.opt.Store.Retry(sctx, ev)
		q.count(ev.Tenant, func(c *Counts) { c.Retried++ })
	default:
		ev.LastError = out.Err.Error()
		why := "permanent failure (the plugin did not ask for a retry)"
		if out.Retry {
			why = fmt.Sprintf("%d attempts (queue.max_attempts) failed", ev.Attempt)
		}
		q.bury(sctx, ev, lim, why)
		return
	}
	if err != nil {
		q.log.Error("queue: recording a delivery's outcome failed; the event will be delivered again", "tenant", ev.Tenant, "event_id", ev.ID, "err", err)
	}
}

// bury dead-letters a claimed event with its LastError, saying why.
func (q *Queue) bury(ctx context.Context, ev *Event, lim Limits, why string) {
	ev.Died = time.Now()
	n, err := q.opt.Store.Bury(ctx, ev, lim.MaxDepth)
	if err != nil {
		q.log.Error("queue: recording a delivery's outcome failed; the event will be delivered again", "tenant", ev.Tenant, "event_id", ev.ID, "err", err)
		return
	}
	q.count(ev.Tenant, func(c *Counts) { c.Dead++; c.Discarded += uint64(n) })
	q.log.Warn("queue: event dead-lettered: "+why+"; imhook queue dead show/retry",
		"tenant", ev.Tenant, "command", ev.Command, "event_id", ev.ID, "attempt", ev.Attempt, "err", ev.LastError)
	if n > 0 {
		q.log.Error("queue: oldest dead letters discarded: the tenant holds queue.max_depth of them; retry or purge them",
			"tenant", ev.Tenant, "discarded", n)
	}
}

// release hands a claimed event back unused (its attempt not counted), due
// after delay.
func (q *Queue) release(ctx context.Context, ev *Event, delay time.Duration) {
	ev.NotBefore = time.Now().Add(delay)
	if err := q.opt.Store.Retry(ctx, ev); err != nil {
		q.log.Error("queue: handing an event back failed; it runs again after a restart or the lease", "tenant", ev.Tenant, "event_id", ev.ID, "err", err)
	}
}

func (q *Queue) count(tenant string, f func(*Counts)) {
	q.mu.Lock()
	f(q.countsLocked(tenant))
	q.mu.Unlock()
}

// delay is the backoff before the retry after attempt (1 for the first):
// MinBackoff doubled per attempt, capped at MaxBackoff, drawn from [d/2, d];
// a plugin's own request (after) when it asked for longer.
func (q *Queue) delay(attempt int, after time.Duration) time.Duration {
	d := q.opt.MinBackoff
	for i := 1; i < attempt && d < q.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.opt.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if after > d {
		d = min(after, q.opt.MaxBackoff)
	}
	return d
}

// TenantStats is one tenant's queue as the admin API and metrics show it.
type TenantStats struct {
	Stats
	// OldestAgeSeconds is how long the oldest pending event has waited.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	// Counts are this process's counters.
	Counts Counts `json:"counts"`
	// InFlightHere is the deliveries running in this process.
	InFlightHere int `json:"in_flight_here"`
}

// Stats returns a tenant's queue statistics.
func (q *Queue) Stats(ctx context.Context, tenant string) (TenantStats, error) {
	st, err := q.opt.Store.Stats(ctx, tenant)
	if err != nil {
		return TenantStats{}, err
	}
	ts := TenantStats{Stats: st}
	if !st.Oldest.IsZero() {
		ts.OldestAgeSeconds = time.Since(st.Oldest).Seconds()
	}
	q.mu.Lock()
	if c := q.counts[tenant]; c != nil {
		ts.Counts = *c
	}
	ts.InFlightHere = q.inFlight[tenant]
	q.mu.Unlock()
	return ts, nil
}

// AllCounts returns a copy of every tenant's counters, for metrics.
func (q *Queue) AllCounts() map[string]Counts {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]Counts, len(q.counts))
	for t, c := range q.counts {
		out[t] = *c
	}
	return out
}

// DeleteTenant removes everything the queue holds of a deleted tenant:
// its pending events, its dead letters and this process's counters.
// Deliveries of it running now end without effect.
func (q *Queue) DeleteTenant(ctx context.Context, tenant string) error {
	if err := q.opt.Store.DeleteTenant(ctx, tenant); err != nil {
		return err
	}
	q.Forget(tenant)
	return nil
}

// Forget drops a removed tenant's counters.
func (q *Queue) Forget(tenant string) {
	q.mu.Lock()
	delete(q.counts, tenant)
	q.mu.Unlock()
}

// Store returns the queue's store, for the dead-letter operations.
func (q *Queue) Store() Store { return q.opt.Store }

// Revive makes a dead letter ready again and wakes the dispatcher.
func (q *Queue) Revive(ctx context.Context, tenant, id string) error {
	if err := q.opt.Store.Revive(ctx, tenant, id); err != nil {
		return err
	}
	q.mu.Lock()
	q.dirty[tenant] = struct{}{}
	q.mu.Unlock()
	q.poke()
	return nil
}
