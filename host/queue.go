package host

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/plugins/store/boltqueue"
	"github.com/imhook/imhook/plugins/store/redisqueue"
)

// QueueConfig configures the after-callback queue (issue 15): after-callbacks
// are answered once durably stored and run from the queue, at least once.
type QueueConfig struct {
	// Path is the bbolt file of the embedded queue (store.backend bolt).
	// Default "<data_dir>/queue.db".
	Path string `koanf:"path"`
	// Workers bounds the deliveries running at once in this process.
	Workers int `koanf:"workers"`
	// PerTenant bounds one tenant's deliveries running at once.
	PerTenant int `koanf:"per_tenant"`
	// Timeout bounds one delivery (a tenant's whole chain).
	Timeout time.Duration `koanf:"timeout"`
	// MinBackoff and MaxBackoff bound the delay before a retry.
	MinBackoff time.Duration `koanf:"min_backoff"`
	MaxBackoff time.Duration `koanf:"max_backoff"`
	// MaxDepth and MaxAttempts are the defaults of the tenants' settings
	// queue.max_depth and queue.max_attempts.
	MaxDepth    int `koanf:"max_depth"`
	MaxAttempts int `koanf:"max_attempts"`
	// Lease (store.backend redis) is how long a replica's claim lasts
	// before another replica takes the event over; 0 is twice Timeout.
	Lease time.Duration `koanf:"lease"`
}

// DefaultQueue is the queue block of Default.
func DefaultQueue() QueueConfig {
	return QueueConfig{
		Workers:     queue.DefaultWorkers,
		PerTenant:   queue.DefaultPerTenant,
		Timeout:     queue.DefaultTimeout,
		MinBackoff:  queue.DefaultMinBackoff,
		MaxBackoff:  queue.DefaultMaxBackoff,
		MaxDepth:    queue.DefaultMaxDepth,
		MaxAttempts: queue.DefaultMaxAttempts,
	}
}

// QueuePath returns the embedded queue's file: Queue.Path, or queue.db
// beside the registry's file.
func (c *Config) QueuePath() string {
	if c.Queue.Path != "" {
		return c.Queue.Path
	}
	return filepath.Join(c.DataDir, "queue.db")
}

// validateQueue checks the queue block.
func (c *Config) validateQueue(bad func(key, format string, args ...any)) {
	q := c.Queue
	if q.Workers < 1 || q.Workers > 4096 {
		bad("queue.workers", "must be between 1 and 4096, got %d", q.Workers)
	}
	if q.PerTenant < 1 || q.PerTenant > q.Workers {
		bad("queue.per_tenant", "must be between 1 and queue.workers (%d), got %d", q.Workers, q.PerTenant)
	}
	if q.Timeout <= 0 || q.Timeout > time.Hour {
		bad("queue.timeout", "must be a positive duration up to 1h, got %s", q.Timeout)
	}
	if q.MinBackoff <= 0 || q.MaxBackoff < q.MinBackoff || q.MaxBackoff > 24*time.Hour {
		bad("queue.min_backoff", "and queue.max_backoff must satisfy 0 < min_backoff <= max_backoff <= 24h, got %s and %s", q.MinBackoff, q.MaxBackoff)
	}
	if q.MaxDepth < 1 || q.MaxDepth > 1_000_000 {
		bad("queue.max_depth", "must be between 1 and 1000000, got %d", q.MaxDepth)
	}
	if q.MaxAttempts < 1 || q.MaxAttempts > 100 {
		bad("queue.max_attempts", "must be between 1 and 100, got %d", q.MaxAttempts)
	}
	if q.Lease != 0 && q.Lease <= q.Timeout {
		bad("queue.lease", "must exceed queue.timeout %s (a live delivery must not be taken over), got %s", q.Timeout, q.Lease)
	}
}

// openQueue opens the queue's store (the backend store.backend selects) and
// builds the queue, which processes events with the directory's Deliver. It
// returns the function that closes the store.
func (s *Server) openQueue() (func(), error) {
	cfg := s.cfg
	var (
		st     queue.Store
		closer func()
	)
	paused := func() error { return nil }
	if s.redisDB != nil {
		lease := cfg.Queue.Lease
		if lease == 0 {
			lease = 2 * cfg.Queue.Timeout
		}
		rs, err := redisqueue.New(s.redisDB.Client, redisqueue.Options{KeyPrefix: s.redisDB.Config.KeyPrefix, Lease: lease, Guard: s.redisDB.Guard})
		if err != nil {
			return nil, err
		}
		st, closer = rs, func() { _ = rs.Close() }
		// Claims are writes: while Redis lost data the workers wait for
		// the operator instead of failing every poll.
		paused = s.redisDB.Guard.Err
	} else {
		path := cfg.QueuePath()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("queue[%s]: create its directory: %w", path, err)
		}
		bs, err := boltqueue.Open(path, boltqueue.Options{Bolt: boltdb.Options{}})
		if err != nil {
			return nil, fmt.Errorf("queue[%s]: %w", path, err)
		}
		st, closer = bs, func() { _ = bs.Close() }
	}
	q, err := queue.New(queue.Options{
		Store:      st,
		Process:    s.dir.Deliver,
		Limits:     s.queueLimits,
		Workers:    cfg.Queue.Workers,
		PerTenant:  cfg.Queue.PerTenant,
		Timeout:    cfg.Queue.Timeout,
		MinBackoff: cfg.Queue.MinBackoff,
		MaxBackoff: cfg.Queue.MaxBackoff,
		Poll:       cfg.Store.Redis.WithDefaults().PollInterval,
		Logger:     s.log.With("component", "queue"),
		Paused:     paused,
	})
	if err != nil {
		closer()
		return nil, err
	}
	s.queue = q
	s.metrics.SetQueueSource(s.queueMetrics)
	return closer, nil
}

// queueLimits are a tenant's queue settings over the server's defaults.
func (s *Server) queueLimits(tenant string) queue.Limits {
	l := queue.Limits{MaxDepth: s.cfg.Queue.MaxDepth, MaxAttempts: s.cfg.Queue.MaxAttempts}
	if t, ok := s.dir.Lookup([]byte(tenant)); ok {
		qs := t.QueueSettings()
		if qs.MaxDepth > 0 {
			l.MaxDepth = qs.MaxDepth
		}
		if qs.MaxAttempts > 0 {
			l.MaxAttempts = qs.MaxAttempts
		}
	}
	return l
}

// queueMetrics reads every tenant's queue for a scrape.
func (s *Server) queueMetrics() []metrics.QueueTenant {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ids := s.dir.IDs()
	for t := range s.queue.AllCounts() {
		if !slices.Contains(ids, t) {
			ids = append(ids, t)
		}
	}
	var out []metrics.QueueTenant
	for _, id := range ids {
		st, err := s.queue.Stats(ctx, id)
		if err != nil {
			s.log.Warn("queue metrics: reading a tenant's queue failed", "tenant", id, "err", err)
			continue
		}
		c := st.Counts
		out = append(out, metrics.QueueTenant{Tenant: id, Pending: st.Pending, Ready: st.Ready, Delayed: st.Delayed,
			InFlight: st.Claimed, Dead: st.Dead, OldestSeconds: st.OldestAgeSeconds,
			Enqueued: c.Enqueued, Refused: c.Refused, Processed: c.Processed, Retried: c.Retried,
			DeadLettered: c.Dead, Discarded: c.Discarded})
	}
	return out
}

// Queue returns the after-callback queue.
func (s *Server) Queue() *queue.Queue { return s.queue }

// stopQueue stops the queue's workers, letting deliveries in flight finish
// up to ctx.
func (s *Server) stopQueue(ctx context.Context) error {
	if s.queue == nil {
		return nil
	}
	err := s.queue.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("queue: deliveries still running at the shutdown timeout were cancelled; they run again after the restart")
		return nil
	}
	return err
}

// queueStatus is a tenant's queue for its stats, nil when the store does
// not answer.
func (s *Server) queueStatus(tenant string) *tenants.QueueStatus {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := s.queue.Stats(ctx, tenant)
	if err != nil {
		return nil
	}
	return &tenants.QueueStatus{Pending: st.Pending, Ready: st.Ready, Delayed: st.Delayed,
		InFlight: st.Claimed, Dead: st.Dead, OldestAgeSeconds: st.OldestAgeSeconds}
}
