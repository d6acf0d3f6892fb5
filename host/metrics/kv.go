package metrics

import "github.com/prometheus/client_golang/prometheus"

func newKVQuota() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "imhook", Subsystem: "kv", Name: "quota_exceeded_total",
		Help: "State operations refused for a quota (max_kv_keys, max_kv_bytes, max_kv_key_bytes, max_kv_value_bytes, max_kv_ops), by tenant.",
	}, []string{"tenant"})
}

// KVQuota records a state operation a quota refused. Its signature is
// state.NewTenant's onQuota.
func (m *Metrics) KVQuota(tenant string) {
	if m == nil {
		return
	}
	m.kvQuota.WithLabelValues(tenant).Inc()
}
