// Package loadgen is imhook's load generator: a closed loop of keep-alive
// connections sending a mix of OpenIM callbacks to a webhook server, with a
// latency histogram, error accounting (a non-2xx status or a body that does
// not decode as the command's OpenIM reply), and the server process's CPU
// time and memory read from /proc. `imhook bench` drives it; see
// docs/performance.md for the method.
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
	// callback in flight at a time (a closed loop). Default 16.
	Connections int
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
// closed loop: each connection sends its next callback when the previous
// reply arrives.
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
		deadline := time.Now().Add(d)
		for w := range workers {
			offset := w * len(sched) / cfg.Connections
			wg.Go(func() {
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
	measureFrom := time.Now()
	load(cfg.Duration, true)
	end := time.Now()

	res := Result{Latency: &Histogram{}}
	for i := range workers {
		wk := &workers[i]
		res.Requests += wk.requests
		res.Errors += wk.errors
		res.Stopped += wk.stopped
		res.Refusable += wk.refusable
		res.Latency.Merge(&wk.hist)
		if res.FirstError == "" {
			res.FirstError = wk.firstError
		}
	}
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
	requests   int64
	errors     int64
	stopped    int64
	refusable  int64
	firstError string
}

// loop sends callbacks until deadline, ctx's end or, when measured, the
// run's cfg.Requests (counted over all workers); only measured callbacks are
// recorded.
func (w *worker) loop(ctx context.Context, hc *fasthttp.HostClient, cfg Config, targets []target,
	sched []int, offset int, deadline time.Time, measured bool, counted *atomic.Int64) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	replies := make([]openim.Reply, len(targets))
	for i, t := range targets {
		replies[i] = openim.NewReply(t.cmd)
	}
	for k := offset; ; k++ {
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			return
		}
		if measured && cfg.Requests > 0 && counted.Add(1) > cfg.Requests {
			return
		}
		i := sched[k%len(sched)]
		t := &targets[i]
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(t.uris[k%len(t.uris)])
		req.Header.SetContentType("application/json")
		req.Header.Set("operationID", "loadgen")
		req.SetBodyRaw(cfg.Mix[i].Body)
		start := time.Now()
		err := hc.DoTimeout(req, resp, cfg.Timeout)
		elapsed := time.Since(start)
		if !measured {
			continue
		}
		w.requests++
		w.hist.Record(elapsed)
		switch {
		case err != nil:
			w.fail(fmt.Sprintf("%s: %v", cfg.Mix[i].Name, err))
		case resp.StatusCode() < 200 || resp.StatusCode() > 299:
			w.fail(fmt.Sprintf("%s: status %d: %.200s", cfg.Mix[i].Name, resp.StatusCode(), resp.Body()))
		default:
			r := replies[i]
			if err := r.DecodeJSON(resp.Body()); err != nil {
				w.fail(fmt.Sprintf("%s: reply is not a %s reply: %v: %.200s", cfg.Mix[i].Name, t.cmd, err, resp.Body()))
				continue
			}
			if r.Common().Stopped() {
				w.stopped++
			}
			if t.refused {
				w.refusable++
			}
		}
	}
}

func (w *worker) fail(msg string) {
	w.errors++
	if w.firstError == "" {
		w.firstError = msg
	}
}
