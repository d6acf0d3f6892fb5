package console

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
)

// maxRows bounds the server view's tables; the busiest rows come first.
const maxRows = 100

// serverView is the operator's server page.
type serverView struct {
	HealthCode int
	Health     string // /readyz's detailed JSON, indented
	Loaded     float64
	CPUSlots   float64
	CPUBusy    float64
	CPUWaiting float64
	Tenants    []tenantLoad // busiest first
	Kinds      []count      // failures by kind, most first
	Pools      []pool       // most in flight first
}

// tenantLoad is one tenant's traffic, from the metrics.
type tenantLoad struct {
	Tenant       string
	Calls        float64           // since the server started
	Outcomes     map[string]uint64 // by outcome
	Failures     float64
	PerMinute    uint64  // callbacks in the current minute
	P99          float64 // the last hour's worst minute's p99, seconds
	Instructions float64 // p99 of instructions per call since start
}

type count struct {
	Name  string
	Count float64
}

type pool struct {
	Tenant, Plugin    string
	Instances, Flight float64
	Oldest            float64 // seconds
	Breaker           bool
}

// server shows the server's health and the tenants' load: operator only.
// The API says first whose the token is (it may have been rotated since the
// login), and only the operator's sees the metrics, which name every tenant.
func (c *Console) server(rc *fasthttp.RequestCtx, s *session) {
	var who admin.Whoami
	if err := c.get(s, "/v1/whoami", &who); err != nil {
		c.fail(rc, s, "", err)
		return
	}
	if who.Role != "operator" {
		c.fail(rc, s, "", &apiError{status: fasthttp.StatusForbidden, msg: "token of tenant[" + who.Tenant + "] cannot see the server's metrics; use the operator token"})
		return
	}
	v := serverView{}
	if c.health != nil {
		var hrc fasthttp.RequestCtx
		var req fasthttp.Request
		hrc.Init(&req, apiAddr, nil)
		c.health(&hrc)
		v.HealthCode = hrc.Response.StatusCode()
		var b bytes.Buffer
		if json.Indent(&b, hrc.Response.Body(), "", "  ") == nil {
			v.Health = b.String()
		}
	}
	if c.metrics != nil {
		if fams, err := c.metrics.Gather(); err == nil {
			c.readMetrics(&v, fams)
		}
	}
	c.render(rc, s, fasthttp.StatusOK, "server", "Server", "", v)
}

func (c *Console) readMetrics(v *serverView, fams []*dto.MetricFamily) {
	loads := map[string]*tenantLoad{}
	load := func(t string) *tenantLoad {
		l := loads[t]
		if l == nil {
			l = &tenantLoad{Tenant: t, Outcomes: map[string]uint64{}}
			loads[t] = l
		}
		return l
	}
	kinds := map[string]float64{}
	pools := map[[2]string]*pool{}
	poolOf := func(m *dto.Metric) *pool {
		k := [2]string{labelOf(m, "tenant"), labelOf(m, "plugin")}
		p := pools[k]
		if p == nil {
			p = &pool{Tenant: k[0], Plugin: k[1]}
			pools[k] = p
		}
		return p
	}
	instrs := map[string][]*dto.Histogram{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "imhook_plugins_loaded":
				v.Loaded = m.GetGauge().GetValue()
			case "imhook_cpu_slots":
				v.CPUSlots = m.GetGauge().GetValue()
			case "imhook_cpu_slots_busy":
				v.CPUBusy = m.GetGauge().GetValue()
			case "imhook_cpu_waiting":
				v.CPUWaiting = m.GetGauge().GetValue()
			case "imhook_webhook_calls_total":
				l := load(labelOf(m, "tenant"))
				n := m.GetCounter().GetValue()
				l.Calls += n
				l.Outcomes[labelOf(m, "outcome")] += uint64(n)
			case "imhook_plugin_failures_total":
				n := m.GetCounter().GetValue()
				load(labelOf(m, "tenant")).Failures += n
				kinds[labelOf(m, "kind")] += n
			case "imhook_plugin_instructions":
				t := labelOf(m, "tenant")
				instrs[t] = append(instrs[t], m.GetHistogram())
			case "imhook_pool_instances":
				poolOf(m).Instances = m.GetGauge().GetValue()
			case "imhook_plugin_in_flight":
				poolOf(m).Flight = m.GetGauge().GetValue()
			case "imhook_plugin_oldest_call_seconds":
				poolOf(m).Oldest = m.GetGauge().GetValue()
			case "imhook_plugin_breaker_open":
				poolOf(m).Breaker = m.GetGauge().GetValue() > 0
			}
		}
	}
	now := time.Now()
	for t, l := range loads {
		l.Instructions = histogramQuantile(instrs[t], 0.99)
		if c.history != nil {
			ms := c.history.Tenant(t, now)
			l.PerMinute = ms[len(ms)-1].Calls
			for _, m := range ms {
				l.P99 = max(l.P99, m.P99)
			}
		}
		v.Tenants = append(v.Tenants, *l)
	}
	slices.SortFunc(v.Tenants, func(a, b tenantLoad) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Tenant, b.Tenant))
	})
	v.Tenants = v.Tenants[:min(len(v.Tenants), maxRows)]
	for k, n := range kinds {
		v.Kinds = append(v.Kinds, count{k, n})
	}
	slices.SortFunc(v.Kinds, func(a, b count) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Name, b.Name)) })
	for _, p := range pools {
		v.Pools = append(v.Pools, *p)
	}
	slices.SortFunc(v.Pools, func(a, b pool) int {
		return cmp.Or(cmp.Compare(b.Flight, a.Flight), cmp.Compare(b.Instances, a.Instances),
			cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Plugin, b.Plugin))
	})
	v.Pools = v.Pools[:min(len(v.Pools), maxRows)]
}

// histogramQuantile merges histograms of the same buckets and returns the
// upper bound of the bucket holding quantile q, 0 when empty.
func histogramQuantile(hs []*dto.Histogram, q float64) float64 {
	var bounds []float64
	var cum []uint64
	var total uint64
	for _, h := range hs {
		total += h.GetSampleCount()
		for i, b := range h.GetBucket() {
			if i >= len(cum) {
				bounds = append(bounds, b.GetUpperBound())
				cum = append(cum, 0)
			}
			cum[i] += b.GetCumulativeCount()
		}
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	for i, n := range cum {
		if n >= want {
			return bounds[i]
		}
	}
	return math.Inf(1)
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
