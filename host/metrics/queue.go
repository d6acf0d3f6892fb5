package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a queued after-callback (imhook_webhook_calls_total).
const (
	OutcomeQueued      = "queued"       // durably enqueued; the neutral reply went out
	OutcomeQueueFull   = "queue_full"   // the tenant's queue is full: 503, the event is not kept
	OutcomeQueueFailed = "queue_failed" // the queue's store failed: 503
)

// QueueTenant is one tenant's queue at scrape time.
type QueueTenant struct {
	Tenant string
	// Gauges, from the store (all replicas):
	Pending, Ready, Delayed, InFlight, Dead int
	OldestSeconds                           float64
	// Counters of this process:
	Enqueued, Refused, Processed, Retried, DeadLettered, Discarded uint64
}

// QueueSource reports every tenant's queue; the server's queue implements it.
type QueueSource func() []QueueTenant

// SetQueueSource registers the queue metrics, read from src at each scrape:
// imhook_queue_* gauges and counters per tenant.
func (m *Metrics) SetQueueSource(src QueueSource) {
	m.reg.MustRegister(queueCollector{src})
}

type queueCollector struct{ src QueueSource }

var (
	queueLabels = []string{"tenant"}
	qDesc       = func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("imhook_queue_"+name, help, queueLabels, nil)
	}
	qPending   = qDesc("pending", "After-callbacks queued and not yet processed (ready, delayed for a retry, or being delivered), all replicas.")
	qReady     = qDesc("ready", "Queued after-callbacks due now and not being delivered.")
	qDelayed   = qDesc("delayed", "Queued after-callbacks waiting for a retry's backoff.")
	qInFlight  = qDesc("in_flight", "Queued after-callbacks being delivered now, all replicas.")
	qDead      = qDesc("dead_letters", "Dead letters kept (imhook queue dead list).")
	qOldest    = qDesc("oldest_age_seconds", "Age of the oldest pending after-callback.")
	qEnqueued  = qDesc("enqueued_total", "After-callbacks this process queued.")
	qRefused   = qDesc("refused_total", "After-callbacks this process refused with 503 because the tenant's queue was full.")
	qProcessed = qDesc("processed_total", "Deliveries this process completed successfully.")
	qRetried   = qDesc("retries_total", "Deliveries this process scheduled for a retry.")
	qDeadTotal = qDesc("dead_lettered_total", "Events this process dead-lettered.")
	qDiscarded = qDesc("dead_discarded_total", "Oldest dead letters discarded because the tenant held queue.max_depth of them.")
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{qPending, qReady, qDelayed, qInFlight, qDead, qOldest, qEnqueued, qRefused, qProcessed, qRetried, qDeadTotal, qDiscarded} {
		ch <- d
	}
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, t := range c.src() {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, t.Tenant)
		}
		n := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), t.Tenant)
		}
		g(qPending, float64(t.Pending))
		g(qReady, float64(t.Ready))
		g(qDelayed, float64(t.Delayed))
		g(qInFlight, float64(t.InFlight))
		g(qDead, float64(t.Dead))
		g(qOldest, t.OldestSeconds)
		n(qEnqueued, t.Enqueued)
		n(qRefused, t.Refused)
		n(qProcessed, t.Processed)
		n(qRetried, t.Retried)
		n(qDeadTotal, t.DeadLettered)
		n(qDiscarded, t.Discarded)
	}
}
