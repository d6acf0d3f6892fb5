package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store states, the values of the "state" label of imhook_store_state.
var storeStates = []string{"ok", "unreachable", "lost"}

// StoreStat is the health of a shared store as this replica sees it.
type StoreStat struct {
	// State is "ok", "unreachable" or "lost".
	State string
	// Revision is the store's revision at the last successful read; Applied
	// the revision this replica's serving state is at least as new as.
	Revision, Applied uint64
	// LastRead is when the store last answered (zero: never).
	LastRead time.Time
}

// StoreSource reports a shared store's health at scrape time.
type StoreSource func() StoreStat

var (
	storeStateDesc = prometheus.NewDesc("imhook_store_state",
		"1 for the shared store's current state (ok, unreachable, lost), 0 for the others.", []string{"state"}, nil)
	storeRevDesc = prometheus.NewDesc("imhook_store_revision",
		"The shared store's revision counter at the last successful read.", nil, nil)
	storeAppliedDesc = prometheus.NewDesc("imhook_store_applied_revision",
		"The registry revision this replica's serving state is at least as new as.", nil, nil)
	storeLagDesc = prometheus.NewDesc("imhook_store_lag_revisions",
		"Revisions this replica has not applied yet: imhook_store_revision minus imhook_store_applied_revision (0 when ahead).", nil, nil)
	storeAgeDesc = prometheus.NewDesc("imhook_store_last_read_age_seconds",
		"Seconds since the shared store last answered a poll.", nil, nil)
)

// SetStoreSource registers the imhook_store_* gauges, read from src at
// scrape time. Call it once, for a shared store only.
func (m *Metrics) SetStoreSource(src StoreSource) {
	if m == nil {
		return
	}
	m.reg.MustRegister(storeCollector{src})
}

type storeCollector struct{ src StoreSource }

// Describe implements prometheus.Collector.
func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{storeStateDesc, storeRevDesc, storeAppliedDesc, storeLagDesc, storeAgeDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	for _, st := range storeStates {
		v := 0.0
		if st == s.State {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(storeStateDesc, prometheus.GaugeValue, v, st)
	}
	ch <- prometheus.MustNewConstMetric(storeRevDesc, prometheus.GaugeValue, float64(s.Revision))
	ch <- prometheus.MustNewConstMetric(storeAppliedDesc, prometheus.GaugeValue, float64(s.Applied))
	lag := 0.0
	if s.Revision > s.Applied {
		lag = float64(s.Revision - s.Applied)
	}
	ch <- prometheus.MustNewConstMetric(storeLagDesc, prometheus.GaugeValue, lag)
	age := 0.0
	if !s.LastRead.IsZero() {
		age = time.Since(s.LastRead).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(storeAgeDesc, prometheus.GaugeValue, age)
}
