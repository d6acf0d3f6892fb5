// Package metrics holds imhook's Prometheus metrics on a registry of their own
// (never the global one), and serves them for fasthttp.
//
// Labels are bounded: tenant IDs are created by the operator, commands are the
// fixed OpenIM set, outcomes and failure kinds are small enums. Nothing is ever
// labelled by operationID or any other per-callback value.
package metrics

import (
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// Outcomes of a callback, the values of the "outcome" label of
// imhook_webhook_calls_total.
const (
	OutcomeOK         = "ok"         // the plugin chain answered
	OutcomeNeutral    = "neutral"    // no plugin handles the command
	OutcomeStopped    = "stopped"    // a plugin stopped the action
	OutcomePolicy     = "policy"     // a plugin failed; the failure policy answered
	OutcomeOverloaded = "overloaded" // past server.max_concurrent; the policy answered
	OutcomeRejected   = "rejected"   // a 4xx: bad request, unknown tenant, auth
)

// Outcomes of a callback under an old command name, the values of the
// "outcome" label of imhook_webhook_legacy_commands_total.
const (
	LegacyRouted  = "routed"  // run as its current command
	LegacyNeutral = "neutral" // its request has another shape: neutral reply
)

// PoolStat is one plugin's pool, reported by the Source at scrape time.
type PoolStat struct {
	Tenant    string
	Plugin    string
	Instances int    // live instances
	Waits     uint64 // calls so far that had to wait for a free instance
	// InFlight is the calls inside the plugin's guest now, Oldest how long
	// the oldest of them has been there (0 when none).
	InFlight int
	Oldest   time.Duration
	// BreakerOpen is set while the crash-loop breaker keeps the plugin from
	// being entered.
	BreakerOpen bool
}

// CPUStat is the CPU share between tenants (plugins.CPUStats).
type CPUStat struct {
	Slots, Busy, Waiting int
}

// MemoryPoolStat is the pool of closed instances' memories
// (plugins.Engine.MemoryPoolStats).
type MemoryPoolStat struct {
	Reused, Fresh, Released uint64 // memories served from the pool, mapped anew, closed into a full pool
	KeptBytes               uint64 // what the kept memories may hold resident
}

// Source reports the gauges that are read at scrape time rather than counted.
// The tenant directory implements it.
type Source interface {
	// Pools returns the pool size of every loaded plugin.
	Pools() []PoolStat
	// PluginsLoaded returns how many plugin versions are loaded.
	PluginsLoaded() int
	// CPU returns the state of the CPU share between tenants.
	CPU() CPUStat
	// MemoryPool returns what the pool of closed instances' memories did.
	MemoryPool() MemoryPoolStat
}

// Metrics is the set of imhook collectors. Its methods are safe for concurrent
// use; a nil *Metrics records nothing, which keeps tests that don't care short.
type Metrics struct {
	reg       *prometheus.Registry
	calls     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	failures  *prometheus.CounterVec
	compile   prometheus.Histogram
	loadFails *prometheus.CounterVec
	instrs    *prometheus.HistogramVec
	legacy    *prometheus.CounterVec
	notReady  prometheus.Counter
	out       outCallMetrics         // outcall.go
	kvQuota   *prometheus.CounterVec // kv.go

	// The per-callback series, resolved once (see cached).
	mu             sync.RWMutex
	callSeries     map[seriesKey]prometheus.Counter
	durationSeries map[seriesKey]prometheus.Observer
	instrSeries    map[seriesKey]prometheus.Observer
}

// New registers every imhook metric, plus the Go and process collectors, on a
// fresh registry. src may be nil until the directory exists; see SetSource.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imhook", Subsystem: "webhook", Name: "calls_total",
			Help: "Callbacks answered, by tenant, command and outcome.",
		}, []string{"tenant", "command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "imhook", Subsystem: "webhook", Name: "duration_seconds",
			Help:    "Time from a callback's body being read to its reply being ready.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"tenant", "command"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imhook", Subsystem: "plugin", Name: "failures_total",
			Help: "Plugin calls that failed, by tenant, command and kind (timeout, trap, bad_reply, ...).",
		}, []string{"tenant", "command", "kind"}),
		compile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "imhook", Name: "compile_seconds",
			Help:    "Time to compile (or load from the cache) and load one plugin version.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		loadFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imhook", Name: "plugin_load_failures_total",
			Help: "Plugin versions that failed to load; the tenant keeps its previous plugins.",
		}, []string{"tenant"}),
		// 10 thousand to 10 thousand million by factors of 4: an example
		// plugin uses 100-150 thousand per call, the default budget is 100 million.
		instrs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "imhook", Subsystem: "plugin", Name: "instructions",
			Help:    "WebAssembly instructions one plugin call used of its budget (metered plugins only).",
			Buckets: prometheus.ExponentialBuckets(1e4, 4, 11),
		}, []string{"tenant", "command"}),
		legacy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imhook", Subsystem: "webhook", Name: "legacy_commands_total",
			Help: "Callbacks under a command name older OpenIM versions sent, by tenant, that name and outcome (routed, neutral).",
		}, []string{"tenant", "command", "outcome"}),
	}
	m.notReady = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "imhook", Subsystem: "webhook", Name: "not_ready_total",
		Help: "Callbacks answered with the neutral reply because this replica had not loaded its tenants yet.",
	})
	m.callSeries = map[seriesKey]prometheus.Counter{}
	m.durationSeries = map[seriesKey]prometheus.Observer{}
	m.instrSeries = map[seriesKey]prometheus.Observer{}
	m.out = newOutCallMetrics()
	m.kvQuota = newKVQuota()
	m.reg.MustRegister(m.notReady, m.calls, m.duration, m.failures, m.compile, m.loadFails, m.instrs, m.legacy, m.out.calls, m.out.seconds, m.kvQuota,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetSource registers the scrape-time metrics read from src:
// imhook_plugins_loaded, imhook_pool_instances{tenant,plugin} and
// imhook_pool_waits_total{tenant,plugin}. Call it once.
func (m *Metrics) SetSource(src Source) {
	if m == nil {
		return
	}
	m.reg.MustRegister(&sourceCollector{src: src})
}

// Registry returns the registry, for tests and for extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Call records one answered callback. seconds is its duration; zero skips the
// histogram (rejected callbacks have no meaningful duration).
func (m *Metrics) Call(tenant, command, outcome string, seconds float64) {
	if m == nil {
		return
	}
	c := cached(m, m.callSeries, seriesKey{tenant, command, outcome}, func() prometheus.Counter {
		return m.calls.WithLabelValues(tenant, command, outcome)
	})
	c.Inc()
	if seconds > 0 {
		cached(m, m.durationSeries, seriesKey{tenant, command, ""}, func() prometheus.Observer {
			return m.duration.WithLabelValues(tenant, command)
		}).Observe(seconds)
	}
}

// seriesKey names one series of the per-callback metrics.
type seriesKey struct{ tenant, command, outcome string }

// cached returns the series of k in cache, resolving it with resolve the
// first time. WithLabelValues hashes the label values and takes the vector's
// lock on every call; the per-callback series are looked up in these maps
// instead (together 0.3-0.4 us less per callback in imhook bench's profile).
// Series are still created on first use, as WithLabelValues would.
func cached[T any](m *Metrics, cache map[seriesKey]T, k seriesKey, resolve func() T) T {
	m.mu.RLock()
	v, ok := cache[k]
	m.mu.RUnlock()
	if ok {
		return v
	}
	v = resolve()
	m.mu.Lock()
	cache[k] = v
	m.mu.Unlock()
	return v
}

// Failure records one failed plugin call of the given kind.
func (m *Metrics) Failure(tenant, command, kind string) {
	if m == nil {
		return
	}
	m.failures.WithLabelValues(tenant, command, kind).Inc()
}

// Instructions records the instructions one plugin call used
// (plugins.CallInfo.Instructions). Zero, an unmetered plugin's value, records
// nothing.
func (m *Metrics) Instructions(tenant, command string, n uint64) {
	if m == nil || n == 0 {
		return
	}
	cached(m, m.instrSeries, seriesKey{tenant, command, ""}, func() prometheus.Observer {
		return m.instrs.WithLabelValues(tenant, command)
	}).Observe(float64(n))
}

// Legacy records a callback under an old command name (its bounded set is
// sdk/openim's legacy and retired names) and what became of it.
func (m *Metrics) Legacy(tenant, command, outcome string) {
	if m == nil {
		return
	}
	m.legacy.WithLabelValues(tenant, command, outcome).Inc()
}

// NotReady counts a callback answered neutrally before the tenants loaded.
func (m *Metrics) NotReady() {
	if m == nil {
		return
	}
	m.notReady.Inc()
}

// Compile records the time to load one plugin version.
func (m *Metrics) Compile(seconds float64) {
	if m == nil {
		return
	}
	m.compile.Observe(seconds)
}

// LoadFailure records a plugin version that failed to load.
func (m *Metrics) LoadFailure(tenant string) {
	if m == nil {
		return
	}
	m.loadFails.WithLabelValues(tenant).Inc()
}

// Forget drops every series of a deleted tenant so label sets don't pile up.
func (m *Metrics) Forget(tenant string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	for _, cache := range []map[seriesKey]prometheus.Observer{m.durationSeries, m.instrSeries} {
		maps.DeleteFunc(cache, func(k seriesKey, _ prometheus.Observer) bool { return k.tenant == tenant })
	}
	maps.DeleteFunc(m.callSeries, func(k seriesKey, _ prometheus.Counter) bool { return k.tenant == tenant })
	m.mu.Unlock()
	l := prometheus.Labels{"tenant": tenant}
	m.calls.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.failures.DeletePartialMatch(l)
	m.loadFails.DeletePartialMatch(l)
	m.instrs.DeletePartialMatch(l)
	m.legacy.DeletePartialMatch(l)
	m.out.calls.DeletePartialMatch(l)
	m.out.seconds.DeletePartialMatch(l)
	m.kvQuota.DeletePartialMatch(l)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

var (
	poolDesc = prometheus.NewDesc("imhook_pool_instances",
		"Live instances in a plugin's pool.", []string{"tenant", "plugin"}, nil)
	waitsDesc = prometheus.NewDesc("imhook_pool_waits_total",
		"Calls that had to wait for a free instance of a plugin version; a rising rate means limits.max_instances is too low.",
		[]string{"tenant", "plugin"}, nil)
	loadedDesc = prometheus.NewDesc("imhook_plugins_loaded",
		"Plugin versions loaded and serving.", nil, nil)
	inFlightDesc = prometheus.NewDesc("imhook_plugin_in_flight",
		"Calls running inside a plugin's guest now.", []string{"tenant", "plugin"}, nil)
	oldestDesc = prometheus.NewDesc("imhook_plugin_oldest_call_seconds",
		"How long the oldest call running in a plugin's guest has been there; 0 when none. A value near server.call_timeout means calls are being cut.",
		[]string{"tenant", "plugin"}, nil)
	breakerDesc = prometheus.NewDesc("imhook_plugin_breaker_open",
		"1 while a plugin's crash-loop breaker keeps it from being entered (its calls get the failure policy).",
		[]string{"tenant", "plugin"}, nil)
	cpuSlotsDesc = prometheus.NewDesc("imhook_cpu_slots",
		"Guest calls that may run at once (sandbox.cpu_slots).", nil, nil)
	cpuBusyDesc = prometheus.NewDesc("imhook_cpu_slots_busy",
		"CPU slots held by guest calls now.", nil, nil)
	cpuWaitingDesc = prometheus.NewDesc("imhook_cpu_waiting",
		"Calls waiting for a CPU slot now; the lightest tenant's call gets the next one.", nil, nil)
	memoryDesc = prometheus.NewDesc("imhook_instance_memories_total",
		"Guest memories given to new plugin instances: reused (a closed instance's, cleared, pages resident) or fresh (mapped anew, every page faulted in).",
		[]string{"source"}, nil)
	memoryReleasedDesc = prometheus.NewDesc("imhook_instance_memories_released_total",
		"Closed instances' memories unmapped because the pool was full (sandbox.memory_pool_bytes).", nil, nil)
	memoryKeptDesc = prometheus.NewDesc("imhook_instance_memory_pool_bytes",
		"What the closed instances' memories kept for reuse may hold resident.", nil, nil)
)

// sourceCollector turns a Source into gauges at scrape time.
type sourceCollector struct{ src Source }

// Describe implements prometheus.Collector.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolDesc, waitsDesc, loadedDesc, inFlightDesc, oldestDesc, breakerDesc, cpuSlotsDesc, cpuBusyDesc, cpuWaitingDesc,
		memoryDesc, memoryReleasedDesc, memoryKeptDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(loadedDesc, prometheus.GaugeValue, float64(c.src.PluginsLoaded()))
	for _, p := range c.src.Pools() {
		ch <- prometheus.MustNewConstMetric(poolDesc, prometheus.GaugeValue, float64(p.Instances), p.Tenant, p.Plugin)
		ch <- prometheus.MustNewConstMetric(waitsDesc, prometheus.CounterValue, float64(p.Waits), p.Tenant, p.Plugin)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(p.InFlight), p.Tenant, p.Plugin)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, p.Oldest.Seconds(), p.Tenant, p.Plugin)
		open := 0.0
		if p.BreakerOpen {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, open, p.Tenant, p.Plugin)
	}
	cpu := c.src.CPU()
	ch <- prometheus.MustNewConstMetric(cpuSlotsDesc, prometheus.GaugeValue, float64(cpu.Slots))
	ch <- prometheus.MustNewConstMetric(cpuBusyDesc, prometheus.GaugeValue, float64(cpu.Busy))
	ch <- prometheus.MustNewConstMetric(cpuWaitingDesc, prometheus.GaugeValue, float64(cpu.Waiting))
	mem := c.src.MemoryPool()
	ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.CounterValue, float64(mem.Reused), "reused")
	ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.CounterValue, float64(mem.Fresh), "fresh")
	ch <- prometheus.MustNewConstMetric(memoryReleasedDesc, prometheus.CounterValue, float64(mem.Released))
	ch <- prometheus.MustNewConstMetric(memoryKeptDesc, prometheus.GaugeValue, float64(mem.KeptBytes))
}
