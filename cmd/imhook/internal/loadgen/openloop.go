package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Arrivals is how an open loop spaces its callbacks.
type Arrivals int

const (
	// Poisson arrivals: exponentially distributed gaps of mean 1/Rate, as
	// independent users' actions arrive; bursts happen.
	Poisson Arrivals = iota
	// Uniform arrivals: one callback every 1/Rate exactly.
	Uniform
)

// String returns "poisson" or "uniform".
func (a Arrivals) String() string {
	switch a {
	case Poisson:
		return "poisson"
	case Uniform:
		return "uniform"
	}
	return fmt.Sprintf("Arrivals(%d)", int(a))
}

// ParseArrivals parses "poisson" or "uniform".
func ParseArrivals(s string) (Arrivals, error) {
	switch s {
	case "poisson":
		return Poisson, nil
	case "uniform":
		return Uniform, nil
	}
	return 0, fmt.Errorf("loadgen: arrivals[%s]: want poisson or uniform", s)
}

// arrivals hands out an open loop's arrivals, in order, to the workers: the
// k-th callback of the phase and the time it is due.
type arrivals struct {
	mu      sync.Mutex
	rng     *rand.Rand
	poisson bool
	gap     float64 // mean gap, ns
	next    time.Time
	end     time.Time // no arrival at or after end
	k       int
}

// newArrivals returns the arrivals of one phase (warm-up 0, measured 1) of
// cfg's open loop, from start until end.
func newArrivals(cfg Config, phase uint64, start, end time.Time) *arrivals {
	return &arrivals{
		rng:     rand.New(rand.NewPCG(cfg.Seed, phase)),
		poisson: cfg.Arrivals == Poisson,
		gap:     float64(time.Second) / cfg.Rate,
		next:    start,
		end:     end,
	}
}

// claim returns the next arrival, or false once the phase has none left.
func (a *arrivals) claim() (k int, due time.Time, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.next.Before(a.end) {
		return 0, time.Time{}, false
	}
	k, due = a.k, a.next
	a.k++
	gap := a.gap
	if a.poisson {
		gap *= a.rng.ExpFloat64()
	}
	a.next = a.next.Add(time.Duration(gap))
	return k, due, true
}

// open is a worker of the open loop: it claims the next arrival, waits for
// its time, sends it and records it, until the phase has no arrival left or
// ctx ends. Callbacks of the measured phase are recorded (see Config.Rate
// for what their latency is).
func (w *worker) open(ctx context.Context, hc *fasthttp.HostClient, cfg Config, targets []target,
	sched []int, arr *arrivals, measured bool, counted *atomic.Int64) {
	c := newConn(targets)
	defer c.release()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		k, due, ok := arr.claim()
		if !ok || ctx.Err() != nil {
			return
		}
		if measured && cfg.Requests > 0 && counted.Add(1) > cfg.Requests {
			return
		}
		i := sched[k%len(sched)]
		// An arrival claimed after its time waited for this connection: its
		// latency starts at its arrival. One claimed ahead is sent on time,
		// give or take the timer, and its latency starts at the send.
		queued := time.Now().After(due)
		if !queued {
			timer.Reset(time.Until(due))
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		start := time.Now()
		if measured {
			w.lag.Record(start.Sub(due))
		}
		from := start
		if queued {
			from = due
			if late := start.Sub(due); late > cfg.Timeout {
				if measured {
					w.record(c, cfg, targets, i, fmt.Errorf("not sent: no connection was free for %s after its arrival (timeout %s)",
						late.Round(time.Millisecond), cfg.Timeout), late)
				}
				continue
			}
		}
		err := c.send(hc, cfg, targets, i, k)
		if measured {
			w.record(c, cfg, targets, i, err, time.Since(from))
		}
	}
}
