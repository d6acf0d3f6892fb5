package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outCallMetrics are the metrics of plugins' HTTP out-calls. The
// destination label is the pattern of the tenant's egress_allow that let
// the call through ("https://api.example.com:443"), not the URL's host: the
// operator bounds the patterns, a wildcard pattern does not bound hosts.
type outCallMetrics struct {
	calls   *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

func newOutCallMetrics() outCallMetrics {
	return outCallMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imhook", Name: "out_calls_total",
			Help: "Plugins' HTTP out-calls that reached the client, by tenant, destination (the egress_allow pattern) and outcome (ok, denied, timeout, too_large, unavailable).",
		}, []string{"tenant", "destination", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "imhook", Name: "out_call_seconds",
			Help:    "Wall-clock time of plugins' HTTP out-calls, by tenant and destination: time a callback waited without a CPU slot.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"tenant", "destination"}),
	}
}

// OutCall records one out-call (plugins/outcall's Options.Observe).
func (m *Metrics) OutCall(tenant, destination, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.out.calls.WithLabelValues(tenant, destination, outcome).Inc()
	m.out.seconds.WithLabelValues(tenant, destination).Observe(d.Seconds())
}
