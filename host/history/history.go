// Package history keeps each tenant's last hour of callbacks in one-minute
// buckets (calls, failures, latency), for the web console's charts.
//
// It is fed from the server's Prometheus registry, not from the webhook path:
// Sample reads the cumulative counters and histograms of host/metrics and adds
// what grew since the previous sample to the current minute. A callback
// therefore costs nothing more, and the charts agree with /metrics.
//
//	h := history.New(reg)     // reg: metrics.Metrics.Registry()
//	go h.Run(ctx, 10*time.Second)
//	minutes := h.Tenant("acme", time.Now())
package history

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Minutes is how many one-minute buckets a tenant keeps: one hour.
const Minutes = 60

// The metric families read, from host/metrics.
const (
	callsName    = "imhook_webhook_calls_total"
	failuresName = "imhook_plugin_failures_total"
	durationName = "imhook_webhook_duration_seconds"
)

// Minute is one tenant's callbacks during one minute.
type Minute struct {
	Start    time.Time
	Calls    uint64
	Failures uint64
	// P99 is the 99th percentile of the callbacks' duration, in seconds: the
	// upper bound of the histogram bucket it falls in. 0 without callbacks.
	P99 float64
}

// counters are one tenant's cumulative values at one sample.
type counters struct {
	calls, failures uint64
	buckets         []uint64 // cumulative counts per histogram bound
}

// bucket is one minute of a ring.
type bucket struct {
	minute          int64 // Unix minute; a bucket of another minute is stale
	calls, failures uint64
	buckets         []uint64 // per-bound counts (not cumulative)
}

// History is the per-tenant rings. Safe for concurrent use.
type History struct {
	src prometheus.Gatherer
	// sampling serializes Sample: two reads of the registry applied out of
	// order would count a stretch twice.
	sampling sync.Mutex

	mu      sync.Mutex
	sampled time.Time // the last Sample's time
	bounds  []float64 // the duration histogram's upper bounds
	last    map[string]counters
	rings   map[string]*[Minutes]bucket
}

// New returns a History fed from src, normally metrics.Metrics.Registry().
func New(src prometheus.Gatherer) *History {
	return &History{src: src, last: map[string]counters{}, rings: map[string]*[Minutes]bucket{}}
}

// Run samples every interval until ctx ends.
func (h *History) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			_ = h.Sample(now)
		}
	}
}

// Sample reads the registry and adds what each tenant's counters grew since
// the previous sample to the minute of now. The first sample of a tenant only
// sets its baseline, so a restart of the console never charts a whole
// process lifetime as one minute. A counter that went down (the tenant was
// deleted and created again) starts a new baseline too.
func (h *History) Sample(now time.Time) error {
	h.sampling.Lock()
	defer h.sampling.Unlock()
	fams, err := h.src.Gather()
	if err != nil {
		return err
	}
	cur := map[string]counters{}
	var bounds []float64
	for _, f := range fams {
		switch f.GetName() {
		case callsName, failuresName:
			for _, m := range f.GetMetric() {
				t := label(m, "tenant")
				c := cur[t]
				n := uint64(m.GetCounter().GetValue())
				if f.GetName() == callsName {
					c.calls += n
				} else {
					c.failures += n
				}
				cur[t] = c
			}
		case durationName:
			for _, m := range f.GetMetric() {
				t := label(m, "tenant")
				c := cur[t]
				bs := m.GetHistogram().GetBucket()
				if bounds == nil {
					for _, b := range bs {
						bounds = append(bounds, b.GetUpperBound())
					}
				}
				if c.buckets == nil {
					c.buckets = make([]uint64, len(bounds))
				}
				for i, b := range bs {
					if i < len(c.buckets) {
						c.buckets[i] += b.GetCumulativeCount()
					}
				}
				cur[t] = c
			}
		}
	}
	minute := now.Unix() / 60

	h.mu.Lock()
	defer h.mu.Unlock()
	h.sampled = now
	if bounds != nil {
		h.bounds = bounds
	}
	for t, c := range cur {
		prev, seen := h.last[t]
		h.last[t] = c
		if !seen || c.calls < prev.calls || c.failures < prev.failures {
			continue
		}
		b := h.bucket(t, minute)
		b.calls += c.calls - prev.calls
		b.failures += c.failures - prev.failures
		if len(c.buckets) == len(prev.buckets) && len(c.buckets) > 0 {
			if b.buckets == nil {
				b.buckets = make([]uint64, len(c.buckets))
			}
			// Per-bound counts from the cumulative ones.
			var below uint64
			for i := range c.buckets {
				d := c.buckets[i] - min(prev.buckets[i], c.buckets[i])
				b.buckets[i] += d - min(below, d)
				below = d
			}
		}
	}
	for t := range h.last {
		if _, ok := cur[t]; !ok { // forgotten: deleted
			delete(h.last, t)
			delete(h.rings, t)
		}
	}
	return nil
}

// Refresh samples when the last sample is older than maxAge, so that a page
// shows the current minute as of its request without every request reading
// the whole registry.
func (h *History) Refresh(now time.Time, maxAge time.Duration) {
	h.mu.Lock()
	stale := now.Sub(h.sampled) > maxAge
	h.mu.Unlock()
	if stale {
		_ = h.Sample(now)
	}
}

// bucket returns tenant's bucket of minute, emptied when it held an older
// minute. Called with h.mu held.
func (h *History) bucket(tenant string, minute int64) *bucket {
	r := h.rings[tenant]
	if r == nil {
		r = new([Minutes]bucket)
		h.rings[tenant] = r
	}
	b := &r[minute%Minutes]
	if b.minute != minute {
		*b = bucket{minute: minute}
	}
	return b
}

// Tenant returns the Minutes minutes up to the one of now, oldest first,
// zero where nothing was recorded.
func (h *History) Tenant(tenant string, now time.Time) []Minute {
	end := now.Unix() / 60
	out := make([]Minute, Minutes)
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rings[tenant]
	for i := range out {
		m := end - Minutes + 1 + int64(i)
		out[i].Start = time.Unix(m*60, 0).UTC()
		if r == nil {
			continue
		}
		if b := &r[m%Minutes]; b.minute == m {
			out[i].Calls, out[i].Failures = b.calls, b.failures
			out[i].P99 = quantile(h.bounds, b.buckets, 0.99)
		}
	}
	return out
}

// quantile returns the upper bound of the bucket holding the q quantile of
// counts (per bound, the last one +Inf's remainder excluded), 0 when empty.
func quantile(bounds []float64, counts []uint64, q float64) float64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 || len(bounds) != len(counts) {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range counts {
		seen += c
		if seen >= want {
			return bounds[i]
		}
	}
	return bounds[len(bounds)-1]
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
