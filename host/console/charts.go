package console

import (
	"time"

	"github.com/go-analyze/charts"
	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/history"
)

// The charts' size in pixels: three side by side on a laptop screen.
const chartWidth, chartHeight = 380, 220

// chartKinds are the charts of a tenant's last hour.
var chartKinds = map[string]struct {
	title string
	value func(history.Minute) float64
}{
	"calls":    {"Callbacks per minute", func(m history.Minute) float64 { return float64(m.Calls) }},
	"failures": {"Plugin failures per minute", func(m history.Minute) float64 { return float64(m.Failures) }},
	"latency":  {"p99 latency per minute (ms)", func(m history.Minute) float64 { return m.P99 * 1000 }},
}

// chart answers one chart of the tenant's last hour as SVG, drawn on the
// server by go-analyze/charts: no script in the browser. The tenant is read
// through the API first, which refuses another tenant's token.
func (c *Console) chart(rc *fasthttp.RequestCtx, s *session, id, kind string) {
	k, ok := chartKinds[kind]
	if !ok || c.history == nil {
		c.plainError(rc, fasthttp.StatusNotFound, "no chart "+kind+": calls, failures or latency")
		return
	}
	if _, err := c.tenantDoc(s, id); err != nil {
		c.plainError(rc, status(err), err.Error())
		return
	}
	c.history.Refresh(time.Now(), time.Second) // the current minute as of now
	ms := c.chartMinutes(id)
	values := make([]float64, len(ms))
	labels := make([]string, len(ms))
	for i, m := range ms {
		values[i] = k.value(m)
		labels[i] = m.Start.Format("15:04")
	}
	opt := charts.NewLineChartOptionWithData([][]float64{values})
	opt.Title = charts.TitleOption{Text: k.title}
	opt.XAxis.Labels = labels
	opt.XAxis.LabelCount = 5 // one every quarter of an hour
	opt.Symbol = charts.Symbol{Shape: charts.SymbolNone}
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: chartWidth, Height: chartHeight})
	if err := p.LineChart(opt); err != nil {
		c.plainError(rc, fasthttp.StatusInternalServerError, "chart: "+err.Error())
		return
	}
	b, err := p.Bytes()
	if err != nil {
		c.plainError(rc, fasthttp.StatusInternalServerError, "chart: "+err.Error())
		return
	}
	rc.SetContentType("image/svg+xml")
	rc.SetBody(b)
}
