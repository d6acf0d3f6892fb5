package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// TestQueueBenchmark measures what queuing after-callbacks costs OpenIM:
// the latency of the acknowledgement (the neutral reply, sent once the
// event is durable) and the sustained enqueue rate, for the embedded store
// (bbolt, group commit), Redis (appendfsync always: every ack durable) and
// inline processing (the tenant's settings queue.inline), in interleaved
// rounds of one run; and this disk's fsync latency, the embedded store's
// floor. It writes the tables docs/performance.md ("After-callback queue")
// shows. It runs only with IMHOOK_QUEUE_BENCH=1 (make bench-queue).
func TestQueueBenchmark(t *testing.T) {
	if os.Getenv("IMHOOK_QUEUE_BENCH") == "" {
		t.Skip("a benchmark: set IMHOOK_QUEUE_BENCH=1 (make bench-queue)")
	}
	buildServe(t)
	wasm := buildQueuedGuest(t)
	rounds := 3
	measure := 4 * time.Second
	rate := 10000.0

	fsyncP50, fsyncP99 := measureFsync(t, t.TempDir(), 300)
	t.Logf("fsync of a 4 KiB write on this disk: p50 %v, p99 %v", fsyncP50, fsyncP99)

	rs := redistest.Start(t, redistest.Options{Persist: true})
	type variant struct {
		name   string
		env    []string
		inline bool
		p      *process
	}
	redisEnv := []string{"IMHOOK_STORE__BACKEND=redis", "IMHOOK_STORE__REDIS__ADDRESS=" + rs.Addr()}
	vs := []*variant{
		{name: "inline", inline: true},
		{name: "bolt"},
		{name: "redis", env: redisEnv},
	}
	for _, v := range vs {
		logPath := filepath.Join(t.TempDir(), "log")
		v.p = startLogged(t, t.TempDir(), logPath, append([]string{"IMHOOK_LOG__LEVEL=warn"}, v.env...)...)
		settings := `{"queue":{"max_depth":1000000}}`
		if v.inline {
			settings = `{"queue":{"inline":true}}`
		}
		if status, body, err := v.p.admin("POST", "/v1/tenants", "application/json", []byte(`{"id":"bench","settings":`+settings+`}`)); err != nil || status/100 != 2 {
			t.Fatalf("%s: create tenant: %d %s %v", v.name, status, body, err)
		}
		if status, body, err := v.p.admin("POST", "/v1/tenants/bench/plugins/p/versions?activate=true", "application/wasm", wasm); err != nil || status/100 != 2 {
			t.Fatalf("%s: upload: %d %s %v", v.name, status, body, err)
		}
	}
	mix := loadgen.Mix{{Name: "after-send", Command: "callbackAfterSendSingleMsgCommand", Weight: 1,
		Body: []byte(afterCallback("see you at the station at eight, bring the tickets"))}}
	type row struct{ open, closed []loadgen.Result }
	res := map[string]*row{}
	for _, v := range vs {
		res[v.name] = &row{}
	}
	ctx := context.Background()
	for round := range rounds {
		for _, v := range vs {
			cfg := loadgen.Config{URLs: []string{v.p.hooks + "/hooks/bench"}, Mix: mix, Connections: 256,
				Rate: rate, Warmup: time.Second, Duration: measure, ServerPID: v.p.cmd.Process.Pid, Seed: uint64(round + 1)}
			open, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Rate, cfg.Connections, cfg.Warmup = 0, 64, 0
			closed, err := loadgen.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Let the deliveries catch up before the next variant runs, so
			// that no round inherits another's backlog.
			drained := drain(t, v.p)
			res[v.name].open = append(res[v.name].open, open)
			res[v.name].closed = append(res[v.name].closed, closed)
			t.Logf("round %d %-6s open %5.0f/s: p50 %v p99 %v (errors %d, lag p99 %v, %v CPU/callback) | closed 64 conns: %5.0f/s p99 %v (errors %d) | backlog drained in %v",
				round, v.name, open.Throughput, open.P50, open.P99, open.Errors, open.LagP99, open.CPUPerCallback,
				closed.Throughput, closed.P99, closed.Errors, drained.Round(time.Millisecond))
			if open.Errors+closed.Errors > 0 {
				t.Logf("  first error: %s%s", open.FirstError, closed.FirstError)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nfsync (4 KiB write + fdatasync, %s): p50 %v, p99 %v\n\n", "300 samples", fsyncP50, fsyncP99)
	fmt.Fprintf(&b, "| variant | ack p50 at %.0f/s | ack p99 | ack p99 / inline | sent/s | server CPU per callback | sustained rate, 64 conns | its p99 | errors |\n|---|---|---|---|---|---|---|---|---|\n", rate)
	med := func(rs []loadgen.Result, f func(loadgen.Result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	inlineP99 := med(res["inline"].open, func(r loadgen.Result) float64 { return float64(r.P99) })
	for _, v := range vs {
		r := res[v.name]
		p50 := time.Duration(med(r.open, func(r loadgen.Result) float64 { return float64(r.P50) }))
		p99 := time.Duration(med(r.open, func(r loadgen.Result) float64 { return float64(r.P99) }))
		errs := int64(0)
		for i := range r.open {
			errs += r.open[i].Errors + r.closed[i].Errors
		}
		fmt.Fprintf(&b, "| %s | %v | %v | %.2f | %.0f | %v | %.0f/s | %v | %d |\n", v.name,
			p50.Round(time.Microsecond), p99.Round(time.Microsecond), float64(p99)/inlineP99,
			med(r.open, func(r loadgen.Result) float64 { return r.Throughput }),
			time.Duration(med(r.open, func(r loadgen.Result) float64 { return float64(r.CPUPerCallback) })).Round(time.Microsecond),
			med(r.closed, func(r loadgen.Result) float64 { return r.Throughput }),
			time.Duration(med(r.closed, func(r loadgen.Result) float64 { return float64(r.P99) })).Round(time.Microsecond), errs)
	}
	t.Log(b.String())
	if out := os.Getenv("IMHOOK_QUEUE_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// drain waits until the tenant's queue is empty (up to 2 minutes) and
// returns how long that took.
func drain(t *testing.T, p *process) time.Duration {
	start := time.Now()
	for time.Since(start) < 2*time.Minute {
		status, body, err := p.admin("GET", "/v1/tenants/bench/queue", "", nil)
		if err == nil && status == 200 && strings.Contains(string(body), `"pending":0,`) {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the queue did not drain in 2 minutes")
	return 0
}

// measureFsync writes 4 KiB and syncs n times in dir, and returns the p50
// and p99 of the sync.
func measureFsync(t *testing.T, dir string, n int) (time.Duration, time.Duration) {
	f, err := os.Create(filepath.Join(dir, "fsync"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	for i := range n {
		if _, err := f.WriteAt(buf, int64(i%64)*4096); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*99/100]
}
