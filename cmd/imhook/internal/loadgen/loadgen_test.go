package loadgen

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	// 1..100000 us, uniformly, in random order.
	var h Histogram
	vals := rand.New(rand.NewPCG(3, 4)).Perm(100000)
	for _, v := range vals {
		h.Record(time.Duration(v+1) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Microsecond},
		{0.5, 50000 * time.Microsecond},
		{0.9, 90000 * time.Microsecond},
		{0.99, 99000 * time.Microsecond},
		{0.999, 99900 * time.Microsecond},
		{1, 100000 * time.Microsecond},
	}
	for _, tc := range tests {
		got := h.Quantile(tc.q)
		if rel := float64(got-tc.want) / float64(tc.want); rel > 1.0/256 || rel < -1.0/256 {
			t.Errorf("Quantile(%v) = %v, want %v within 0.4%%", tc.q, got, tc.want)
		}
	}
	if h.Count() != 100000 || h.Max() != 100*time.Millisecond {
		t.Errorf("Count, Max = %d, %v", h.Count(), h.Max())
	}
	if m := h.Mean(); m < 50000*time.Microsecond || m > 50001*time.Microsecond {
		t.Errorf("Mean = %v, want 50000.5us", m)
	}
}

func TestHistogramExactSmallValuesAndMerge(t *testing.T) {
	t.Parallel()
	// Below 128 ns every value has its own bucket: quantiles are exact.
	var a, b Histogram
	for v := 1; v <= 100; v++ {
		if v%2 == 0 {
			a.Record(time.Duration(v))
		} else {
			b.Record(time.Duration(v))
		}
	}
	a.Merge(&b)
	a.Merge(&Histogram{})
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}} {
		if got := a.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("an empty histogram must report zeros")
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	// Every value falls in the bucket whose bounds hold it.
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 123456789, 1 << 40, 1<<63 - 1} {
		low, width := bounds(index(v))
		if v < low || v-low >= width {
			t.Errorf("value %d in bucket [%d, %d+%d)", v, low, low, width)
		}
	}
}

// server runs a fasthttp handler on a loopback port for the test.
func server(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestRunCountsRepliesErrorsAndStops(t *testing.T) {
	t.Parallel()
	// The server refuses what the mix marks Refused, fails add-friend with
	// a 500, and answers group-read with a body that is not a reply.
	base := server(t, func(ctx *fasthttp.RequestCtx) {
		if !bytes.HasPrefix(ctx.Path(), []byte("/hooks/acme/")) || !ctx.IsPost() ||
			string(ctx.Request.Header.ContentType()) != "application/json" {
			ctx.Error("bad request", fasthttp.StatusBadRequest)
			return
		}
		cmd := string(ctx.Path()[len("/hooks/acme/"):])
		body := ctx.PostBody()
		switch {
		case cmd == "callbackBeforeAddFriendCommand":
			ctx.Error("boom", fasthttp.StatusInternalServerError)
		case cmd == "callbackAfterGroupMsgReadCommand":
			ctx.SetBodyString("not json")
		case bytes.Contains(bytes.ToLower(body), []byte(BannedWord)):
			ctx.SetBodyString(`{"actionCode":0,"errCode":20001,"errMsg":"no","errDlt":"","nextCode":1}` + "\n")
		default:
			ctx.SetBodyString(`{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}` + "\n")
		}
	})
	mix := DefaultMix()
	res, err := Run(context.Background(), Config{
		URLs: []string{base + "/hooks/acme/"}, Mix: mix, Connections: 4, Requests: 2000,
		ServerPID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 2000 {
		t.Fatalf("Requests = %d, want 2000", res.Requests)
	}
	// The schedule repeats every 100 callbacks (the weights' sum): 2000
	// callbacks are 20 rounds of it, whatever the workers' interleaving.
	weight := func(name string) int64 {
		for _, c := range mix {
			if c.Name == name {
				return int64(c.Weight)
			}
		}
		t.Fatalf("no callback %q", name)
		return 0
	}
	wantErrors := 20 * (weight("add-friend") + weight("group-read"))
	wantStops := 20 * (weight("single-text-banned") + weight("group-text-banned"))
	// Workers start at different offsets of the schedule, so the counts
	// match exactly only over whole rounds per worker: allow one round.
	near := func(got, want int64) bool { return got >= want-100 && got <= want+100 }
	if !near(res.Errors, wantErrors) || !near(res.Stopped, wantStops) || res.Stopped != res.Refusable {
		t.Errorf("Errors, Stopped, Refusable = %d, %d, %d; want about %d, %d, and Stopped == Refusable",
			res.Errors, res.Stopped, res.Refusable, wantErrors, wantStops)
	}
	if !strings.Contains(res.FirstError, "status 500") && !strings.Contains(res.FirstError, "is not a") {
		t.Errorf("FirstError = %q", res.FirstError)
	}
	if res.Throughput <= 0 || res.P50 <= 0 || res.P50 > res.P99 || res.P99 > res.P999 || res.P999 > res.Max {
		t.Errorf("throughput %v, percentiles %v %v %v max %v", res.Throughput, res.P50, res.P99, res.P999, res.Max)
	}
	if res.ServerRSS <= 0 || res.ServerPeakRSS < res.ServerRSS {
		t.Errorf("RSS %d, peak %d", res.ServerRSS, res.ServerPeakRSS)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	t.Parallel()
	const latency = time.Millisecond // every reply takes at least this long
	base := server(t, func(ctx *fasthttp.RequestCtx) {
		time.Sleep(latency)
		ctx.SetBodyString(`{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`)
	})
	cfg := Config{
		URLs: []string{base + "/hooks/a", base + "/hooks/b"}, Mix: DefaultMix(), Connections: 2,
		Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond, Timeout: time.Second,
	}
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Far above what any machine needs for 300 ms of load: this catches a
	// run that does not stop, not a slow one.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v for 300ms of load", took)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("requests %d, errors %d (%s)", res.Requests, res.Errors, res.FirstError)
	}
	// The measured window starts when the warm-up has really ended, so a
	// busy machine that ends it late delays the window instead of shrinking
	// it.
	if res.Elapsed < cfg.Duration {
		t.Errorf("elapsed %v, want at least the duration %v", res.Elapsed, cfg.Duration)
	}
	// Only callbacks sent inside the window are counted: each connection has
	// one in flight at a time, each taking at least latency, so the window
	// holds at most Connections x Elapsed/latency of them.
	if most := int64(cfg.Connections) * int64(res.Elapsed/latency); res.Requests > most {
		t.Errorf("%d requests counted in %v, at most %d fit", res.Requests, res.Elapsed, most)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no url", Config{Mix: DefaultMix()}, "loadgen: Config.URLs is empty: give the webhook base, such as http://127.0.0.1:8080/hooks/acme"},
		{"empty mix", Config{URLs: []string{"http://127.0.0.1:1/hooks/a"}}, "loadgen: the mix is empty"},
		{"no scheme", Config{URLs: []string{"127.0.0.1:1"}, Mix: DefaultMix()}, "loadgen: url[127.0.0.1:1]: want http://host:port/path"},
		{"two hosts", Config{URLs: []string{"http://127.0.0.1:1/a", "http://127.0.0.1:2/b"}, Mix: DefaultMix()}, "loadgen: url[http://127.0.0.1:2/b]: every URL must be on 127.0.0.1:1"},
		{"unknown command", Config{URLs: []string{"http://127.0.0.1:1/a"}, Mix: Mix{{Name: "x", Command: "nope", Body: []byte("{}"), Weight: 1}}}, "loadgen: mix callback[x]: unknown command[nope]"},
		{"zero weight", Config{URLs: []string{"http://127.0.0.1:1/a"}, Mix: Mix{{Name: "x", Command: "nope", Body: []byte("{}")}}}, `loadgen: mix callback[0] "x" needs a command, a body and a weight > 0`},
		{"too long", Config{URLs: []string{"http://127.0.0.1:1/a"}, Mix: DefaultMix(), Duration: time.Hour}, "loadgen: warm-up plus duration 1h0m0s is over the 10m0s bound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(context.Background(), tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadProc(t *testing.T) {
	t.Parallel()
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.PeakRSS < s.RSS || s.CPU < 0 {
		t.Errorf("ReadProc = %+v", s)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("ReadProc of a missing pid must fail")
	}
}

const neutralReply = `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`

func TestOpenLoopSendsAtTheRate(t *testing.T) {
	t.Parallel()
	base := server(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(neutralReply) })
	// Uniform: one arrival every 2.5 ms from the start of the window, so
	// exactly 200 in 500 ms, however fast the machine.
	res, err := Run(context.Background(), Config{
		URLs: []string{base + "/hooks/a"}, Mix: DefaultMix()[:1], Connections: 4,
		Rate: 400, Arrivals: Uniform, Duration: 500 * time.Millisecond, Warmup: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || res.Errors != 0 {
		t.Errorf("uniform: requests %d, errors %d (%s); want 200, 0", res.Requests, res.Errors, res.FirstError)
	}
	// Poisson: the count depends only on the seed; 200 on average.
	var counts []int64
	for _, seed := range []uint64{1, 1, 2} {
		res, err := Run(context.Background(), Config{
			URLs: []string{base + "/hooks/a"}, Mix: DefaultMix()[:1], Connections: 4,
			Rate: 400, Seed: seed, Duration: 500 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, res.Requests)
	}
	if counts[0] != counts[1] || counts[0] < 140 || counts[0] > 260 || counts[2] < 140 || counts[2] > 260 {
		t.Errorf("poisson: requests %v for seeds 1, 1, 2; want the same twice, each about 200", counts)
	}
}

func TestOpenLoopChargesStalls(t *testing.T) {
	t.Parallel()
	// The 10th callback stalls the only connection for 200 ms. A closed
	// loop would record one slow callback; the open loop records the ~20
	// that arrived during the stall as waiting for it too.
	var n atomic.Int64
	base := server(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == 10 {
			time.Sleep(200 * time.Millisecond)
		}
		ctx.SetBodyString(neutralReply)
	})
	var measuring atomic.Bool
	res, err := Run(context.Background(), Config{
		URLs: []string{base + "/hooks/a"}, Mix: DefaultMix()[:1], Connections: 1,
		Rate: 100, Arrivals: Uniform, Duration: 500 * time.Millisecond,
		OnMeasure: func() { measuring.Store(true) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !measuring.Load() || res.Requests != 50 || res.Errors != 0 {
		t.Fatalf("OnMeasure called %v, requests %d, errors %d (%s); want true, 50, 0", measuring.Load(), res.Requests, res.Errors, res.FirstError)
	}
	// At least 5 of the 50 took 100 ms or more: the stalled one and those
	// that arrived in the first half of the stall.
	if q := res.Latency.Quantile(0.9); q < 100*time.Millisecond {
		t.Errorf("90th percentile %v: the callbacks queued behind the stall were not charged for it", q)
	}
	if res.LagP99 < 100*time.Millisecond {
		t.Errorf("LagP99 %v, want the time callbacks waited for the connection", res.LagP99)
	}
}

func TestOpenLoopDropsWhatItCannotSend(t *testing.T) {
	t.Parallel()
	// Every reply takes 20 ms on the only connection while callbacks arrive
	// every 5 ms: the backlog grows until callbacks are a Timeout late, and
	// those are counted as failures without being sent.
	var sent atomic.Int64
	base := server(t, func(ctx *fasthttp.RequestCtx) {
		sent.Add(1)
		time.Sleep(20 * time.Millisecond)
		ctx.SetBodyString(neutralReply)
	})
	start := time.Now()
	res, err := Run(context.Background(), Config{
		URLs: []string{base + "/hooks/a"}, Mix: DefaultMix()[:1], Connections: 1,
		Rate: 200, Arrivals: Uniform, Duration: 500 * time.Millisecond, Timeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v for 500ms of load", took)
	}
	// At most one callback per 20 ms reached the server; every other one is
	// a failure (a loaded machine may also time out some that were sent).
	n := sent.Load()
	if res.Requests != 100 || n >= 100 || res.Errors < 100-n || res.Max < 200*time.Millisecond {
		t.Errorf("requests %d, %d sent, errors %d (first: %s), max %v; want 100, some not sent and counted as errors, max over the timeout",
			res.Requests, n, res.Errors, res.FirstError, res.Max)
	}
}

func TestParseArrivals(t *testing.T) {
	t.Parallel()
	for _, a := range []Arrivals{Poisson, Uniform} {
		if got, err := ParseArrivals(a.String()); err != nil || got != a {
			t.Errorf("ParseArrivals(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseArrivals("bursty"); err == nil {
		t.Error("ParseArrivals(bursty) must fail")
	}
	_, err := Run(context.Background(), Config{URLs: []string{"http://127.0.0.1:1/a"}, Mix: DefaultMix(), Rate: -1})
	if err == nil || !strings.Contains(err.Error(), "rate -1") {
		t.Errorf("negative rate: err = %v", err)
	}
}
