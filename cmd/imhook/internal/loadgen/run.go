// Package loadgen is imhook's load generator: keep-alive connections sending
// a mix of OpenIM callbacks to a webhook server, either as a closed loop (one
// callback in flight per connection) or as an open loop at a fixed rate
// (Config.Rate), with a latency histogram, error accounting (a non-2xx
// status or a body that does not decode as the command's OpenIM reply), and
// the server process's CPU time and memory read from /proc. `imhook bench`
// drives it; see docs/performance.md for the method.
//
//	res, err := loadgen.Run(ctx, loadgen.Config{
//		URLs:      []string{"http://127.0.0.1:8080/hooks/acme"},
//		Mix:       loadgen.DefaultMix(),
//		Duration:  5 * time.Second,
//		ServerPID: pid,
//	})
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/sdk/openim"
)

// Defaults of Config's zero fields.
const (
	DefaultConnections = 16
	DefaultDuration    = 5 * time.Second
	DefaultTimeout     = 5 * time.Second
	// MaxDuration bounds a run (warm-up included) whatever the caller asks:
	// the generator is for benchmarks, not soak tests.
	MaxDuration = 10 * time.Minute
	// MaxRate bounds Config.Rate, callbacks per second.
	MaxRate = 1_000_000
)

// Config configures a Run.
type Config struct {
	// URLs are tenants' webhook bases, such as
	// "http://127.0.0.1:8080/hooks/acme"; a callback goes to
	// {URL}/{command}. Successive callbacks of a connection rotate through
	// them. All must be on the same host:port. Required.
	URLs []string
	// Mix is the callbacks to send. Required; see DefaultMix.
	Mix Mix
	// Connections is the number of keep-alive connections, each with one
	// callback in flight at a time. In the closed loop (Rate 0) each sends
	// its next callback when the previous reply arrives; in the open loop
	// they bound the callbacks in flight. Default 16.
	Connections int
	// Rate, when positive, makes the load an open loop: callbacks arrive at
	// this many per second on average whatever the server does, as OpenIM's
	// do, and each is sent on a free connection. A callback's latency runs
	// from its arrival when every connection was busy then (so a stalled
	// server is charged for the callbacks queued behind it: no coordinated
	// omission), and from its send otherwise (the generator's own timer
	// slack, up to a millisecond with Go's timers, is not the server's). A
	// callback still unsent Timeout after its arrival is not sent and counts
	// as a failure (a timeout) with that latency.
	Rate float64
	// Arrivals spaces the open loop's callbacks: Poisson (the default) or
	// Uniform.
	Arrivals Arrivals
	// Seed seeds the Poisson arrivals: runs with the same seed, rate and
	// mix send the same callbacks at the same offsets from their start.
	Seed uint64
	// OnMeasure, when set, is called as the measured part starts, after the
	// warm-up (to start a second load in step with this one, for example).
	OnMeasure func()
	// Duration is how long the measured part runs. Default 5s, unless
	// Requests is set. The run ends at Duration or Requests, whichever
	// comes first.
	Duration time.Duration
	// Requests, when positive, ends the measured part after that many
	// callbacks.
	Requests int64
	// Warmup runs the same load for this long before measuring (pools fill,
	// connections open); nothing of it is counted. The measured part starts
	// once every warm-up callback has been answered. Default 0.
	Warmup time.Duration
	// Timeout bounds one callback; a timeout counts as an error. Default 5s.
	Timeout time.Duration
	// ServerPID, when positive, is the server process whose CPU time and
	// memory are read from /proc around the measured part.
	ServerPID int
}

// Result is what a Run measured (the warm-up excluded).
type Result struct {
	// Requests counts the callbacks answered, errors included.
	Requests int64 `json:"requests"`
	// Errors counts failed callbacks: transport errors and timeouts, non-2xx
	// statuses, and bodies that are not the command's OpenIM reply.
	Errors int64 `json:"errors"`
	// Stopped counts valid replies that stop the operation (actionCode 0,
	// nextCode 1).
	Stopped int64 `json:"stopped"`
	// Refusable counts valid replies to callbacks marked Callback.Refused:
	// with the moderation example, Stopped must equal it.
	Refusable int64 `json:"refusable"`
	// Elapsed is the measured wall time: at least Duration, unless Requests
	// or the context ended the run first.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Throughput is valid replies per second.
	Throughput float64 `json:"throughput"`
	// Latency percentiles and the mean of all callbacks, errors included.
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
	// ServerCPU is the server's user+system CPU time during the measured
	// part (10 ms resolution), and CPUPerCallback that divided by Requests.
	// Both are zero without Config.ServerPID.
	ServerCPU      time.Duration `json:"server_cpu_ns"`
	CPUPerCallback time.Duration `json:"cpu_per_callback_ns"`
	// ServerRSS is the server's resident memory at the end, ServerPeakRSS
	// its peak since it started (bytes).
	ServerRSS     int64 `json:"server_rss_bytes"`
	ServerPeakRSS int64 `json:"server_peak_rss_bytes"`
	// FirstError describes the first failed callback, for diagnosis.
	FirstError string `json:"first_error,omitempty"`
	// LagP99 is, in the open loop, the 99th percentile of how late
	// callbacks were sent after their arrival: waiting for a free
	// connection and the generator's timer slack. Near zero, the generator
	// kept up with Rate.
	LagP99 time.Duration `json:"lag_p99_ns,omitempty"`
	// Latency is the merged histogram.
	Latency *Histogram `json:"-"`
}

// target is one prepared callback: its command and one request per URL.
type target struct {
	cmd     openim.Command
	refused bool
	uris    []string
}

// Run drives the server with cfg's load until the duration or request count
// is reached, or ctx ends, and returns what it measured. The load is a
// closed loop, each connection sending its next callback when the previous
// reply arrives, or with Config.Rate an open loop at that rate.
//
// # Errors
//
// cfg is invalid (no URL, an empty mix, an unknown command, URLs on several
// hosts), or /proc of ServerPID cannot be read. Failed callbacks are counted
// in Result, not returned.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, host, err := resolve(cfg)
	if err != nil {
		return Result{}, err
	}
	targets := make([]target, len(cfg.Mix))
	for i, c := range cfg.Mix {
		cmd, ok := openim.Lookup(c.Command)
		if !ok {
			return Result{}, fmt.Errorf("loadgen: mix callback[%s]: unknown command[%s]", c.Name, c.Command)
		}
		t := target{cmd: cmd, refused: c.Refused}
		for _, u := range cfg.URLs {
			t.uris = append(t.uris, u+"/"+c.Command)
		}
		targets[i] = t
	}
	hc := &fasthttp.HostClient{
		Addr:                     host,
		MaxConns:                 cfg.Connections,
		ReadTimeout:              cfg.Timeout,
		WriteTimeout:             cfg.Timeout,
		MaxIdleConnDuration:      time.Minute,
		NoDefaultUserAgentHeader: true,
	}
	defer hc.CloseIdleConnections()

	sched := cfg.Mix.schedule()
	workers := make([]worker, cfg.Connections)
	// load runs every connection for d and returns when all have stopped.
	// Running warm-up and measurement as two such phases makes the measured
	// window start when the warm-up really ended, however late a busy
	// machine lets it end, with no warm-up callback still in flight.
	load := func(d time.Duration, measured bool) {
		var wg sync.WaitGroup
		var counted atomic.Int64
		now := time.Now()
		deadline := now.Add(d)
		var arr *arrivals
		if cfg.Rate > 0 {
			phase := uint64(0)
			if measured {
				phase = 1
			}
			arr = newArrivals(cfg, phase, now, deadline)
		}
		for w := range workers {
			offset := w * len(sched) / cfg.Connections
			wg.Go(func() {
				if arr != nil {
					workers[w].open(ctx, hc, cfg, targets, sched, arr, measured, &counted)
					return
				}
				workers[w].loop(ctx, hc, cfg, targets, sched, offset, deadline, measured, &counted)
			})
		}
		wg.Wait()
	}
	if cfg.Warmup > 0 {
		load(cfg.Warmup, false)
	}
	var before ProcStat
	if cfg.ServerPID > 0 {
		if before, err = ReadProc(cfg.ServerPID); err != nil {
			return Result{}, err
		}
	}
	if cfg.OnMeasure != nil {
		cfg.OnMeasure()
	}
	measureFrom := time.Now()
	load(cfg.Duration, true)
	end := time.Now()

	res := Result{Latency: &Histogram{}}
	var lag Histogram
	for i := range workers {
		wk := &workers[i]
		res.Requests += wk.requests
		res.Errors += wk.errors
		res.Stopped += wk.stopped
		res.Refusable += wk.refusable
		res.Latency.Merge(&wk.hist)
		lag.Merge(&wk.lag)
		if res.FirstError == "" {
			res.FirstError = wk.firstError
		}
	}
	res.LagP99 = lag.Quantile(0.99)
	res.Elapsed = end.Sub(measureFrom)
	if res.Elapsed > 0 {
		res.Throughput = float64(res.Requests-res.Errors) / res.Elapsed.Seconds()
	}
	res.P50, res.P99, res.P999 = res.Latency.Quantile(0.5), res.Latency.Quantile(0.99), res.Latency.Quantile(0.999)
	res.Max, res.Mean = res.Latency.Max(), res.Latency.Mean()
	if cfg.ServerPID > 0 {
		after, err := ReadProc(cfg.ServerPID)
		if err != nil {
			return res, err
		}
		res.ServerCPU = after.CPU - before.CPU
		if res.Requests > 0 {
			res.CPUPerCallback = res.ServerCPU / time.Duration(res.Requests)
		}
		res.ServerRSS, res.ServerPeakRSS = after.RSS, after.PeakRSS
	}
	return res, nil
}

// resolve applies the defaults and checks cfg; it returns the host:port all
// URLs share.
func resolve(cfg Config) (Config, string, error) {
	if len(cfg.URLs) == 0 {
		return cfg, "", errors.New("loadgen: Config.URLs is empty: give the webhook base, such as http://127.0.0.1:8080/hooks/acme")
	}
	if err := cfg.Mix.Validate(); err != nil {
		return cfg, "", err
	}
	var host string
	for i, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return cfg, "", fmt.Errorf("loadgen: url[%s]: want http://host:port/path", raw)
		}
		if i > 0 && u.Host != host {
			return cfg, "", fmt.Errorf("loadgen: url[%s]: every URL must be on %s", raw, host)
		}
		host = u.Host
		cfg.URLs[i] = "http://" + u.Host + trimSlash(u.Path)
	}
	if cfg.Connections <= 0 {
		cfg.Connections = DefaultConnections
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Rate < 0 || cfg.Rate > MaxRate || cfg.Rate != cfg.Rate {
		return cfg, "", fmt.Errorf("loadgen: rate %v: want 0 (closed loop) or up to %d callbacks per second", cfg.Rate, MaxRate)
	}
	if cfg.Arrivals != Poisson && cfg.Arrivals != Uniform {
		return cfg, "", fmt.Errorf("loadgen: arrivals %d: want Poisson or Uniform", cfg.Arrivals)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
		if cfg.Requests > 0 {
			cfg.Duration = MaxDuration
		}
	}
	cfg.Warmup = max(cfg.Warmup, 0)
	if cfg.Warmup+cfg.Duration > MaxDuration {
		return cfg, "", fmt.Errorf("loadgen: warm-up plus duration %s is over the %s bound", cfg.Warmup+cfg.Duration, MaxDuration)
	}
	return cfg, host, nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// worker is one connection's loop and its private counters.
type worker struct {
	hist       Histogram
	lag        Histogram // open loop: how late callbacks were sent
	requests   int64
	errors     int64
	stopped    int64
	refusable  int64
	firstError string
}

// conn is a worker's reusable request, response and reply values.
type conn struct {
	req     *fasthttp.Request
	resp    *fasthttp.Response
	replies []openim.Reply // one per target
}

func newConn(targets []target) *conn {
	c := &conn{req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(), replies: make([]openim.Reply, len(targets))}
	for i, t := range targets {
		c.replies[i] = openim.NewReply(t.cmd)
	}
	return c
}

func (c *conn) release() {
	fasthttp.ReleaseRequest(c.req)
	fasthttp.ReleaseResponse(c.resp)
}

// send sends callback k of the schedule (mix entry i) and waits for its
// reply.
func (c *conn) send(hc *fasthttp.HostClient, cfg Config, targets []target, i, k int) error {
	t := &targets[i]
	c.req.Reset()
	c.req.Header.SetMethod(fasthttp.MethodPost)
	c.req.SetRequestURI(t.uris[k%len(t.uris)])
	c.req.Header.SetContentType("application/json")
	c.req.Header.Set("operationID", "loadgen")
	c.req.SetBodyRaw(cfg.Mix[i].Body)
	return hc.DoTimeout(c.req, c.resp, cfg.Timeout)
}

// record counts one measured callback of mix entry i: its latency and how
// it ended (err from send, else c's response).
func (w *worker) record(c *conn, cfg Config, targets []target, i int, err error, latency time.Duration) {
	t := &targets[i]
	w.requests++
	w.hist.Record(latency)
	switch {
	case err != nil:
		w.fail(fmt.Sprintf("%s: %v", cfg.Mix[i].Name, err))
	case c.resp.StatusCode() < 200 || c.resp.StatusCode() > 299:
		w.fail(fmt.Sprintf("%s: status %d: %.200s", cfg.Mix[i].Name, c.resp.StatusCode(), c.resp.Body()))
	default:
		r := c.replies[i]
		if err := r.DecodeJSON(c.resp.Body()); err != nil {
			w.fail(fmt.Sprintf("%s: reply is not a %s reply: %v: %.200s", cfg.Mix[i].Name, t.cmd, err, c.resp.Body()))
			return
		}
		if r.Common().Stopped() {
			w.stopped++
		}
		if t.refused {
			w.refusable++
		}
	}
}

// loop sends callbacks until deadline, ctx's end or, when measured, the
// run's cfg.Requests (counted over all workers); only measured callbacks are
// recorded.
func (w *worker) loop(ctx context.Context, hc *fasthttp.HostClient, cfg Config, targets []target,
	sched []int, offset int, deadline time.Time, measured bool, counted *atomic.Int64) {
	c := newConn(targets)
	defer c.release()
	for k := offset; ; k++ {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return
		}
		if measured && cfg.Requests > 0 && counted.Add(1) > cfg.Requests {
			return
		}
		i := sched[k%len(sched)]
		start := time.Now()
		err := c.send(hc, cfg, targets, i, k)
		elapsed := time.Since(start)
		if measured {
			w.record(c, cfg, targets, i, err, elapsed)
		}
	}
}

func (w *worker) fail(msg string) {
	w.errors++
	if w.firstError == "" {
		w.firstError = msg
	}
}
