package plugins

import (
	"context"
	"flag"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkDeadlineOverrun measures how far past its deadline a runaway call
// ends (issue 12: "every call ends within its deadline plus 10 ms"), for
// each way a guest can run away, with the machine's cores oversubscribed:
// four callers per class, all classes at once, share the engine's CPU slots
// (one per core), so a call may also wait for a slot. Each call gets a
// 20 ms deadline and a budget that would last seconds, so only the deadline
// can end it. It reports, over every call of a class, the median, p99 and
// largest overrun (end minus deadline) in ms.
//
// Its "native" half is the baseline of the same run: as many goroutines,
// each a Go loop that checks its context every 100 000 iterations (about a
// slice of guest work), with the same deadlines: what Go's and the
// kernel's scheduling alone make of that many runaways.
//
// A module that cannot be metered is refused by default; with
// -deadline-fallback an unmeterable loop runs in deadline mode as an eighth
// class, and shows why it is refused: nothing stops it at a safe point, so
// the collector's stop-the-world waits for its deadline and every class's
// tail grows by it (22 ms at p99 on 2026-12-06, against 0.1 ms without).
//
//	go test ./plugins -run XXX -bench DeadlineOverrun -benchtime 50x [-deadline-fallback]
func BenchmarkDeadlineOverrun(b *testing.B) {
	const (
		deadline = 20 * time.Millisecond
		callers  = 4 // per class
	)
	classes := []struct {
		name string
		wasm []byte
		body string
	}{
		{"loop", wat(b, "infinite_loop"), seedBody},
		{"recursion", wat(b, "deep_recursion"), seedBody},
		{"host_loop", wat(b, "host_loop"), seedBody},
		{"poll_oneoff", wat(b, "wasi_flood"), "o"},
		{"sched_yield", wat(b, "wasi_flood"), "y"},
		{"fd_read", wat(b, "wasi_flood"), "r"},
		{"unmeterable", wat(b, "unmeterable_loop"), seedBody},
	}
	if !*deadlineFallback {
		classes = classes[:len(classes)-1] // refused at load, as by default
	}
	// run has callers goroutines per class do b.N calls of call with a fresh
	// deadline each and returns each class's overruns.
	run := func(b *testing.B, call func(ctx context.Context, class int) error) [][]time.Duration {
		overruns := make([][]time.Duration, len(classes))
		var mu sync.Mutex
		var wg sync.WaitGroup
		b.ResetTimer()
		for k := range classes {
			for range callers {
				wg.Go(func() {
					for range b.N {
						ctx, cancel := context.WithTimeout(context.Background(), deadline)
						dl, _ := ctx.Deadline()
						err := call(ctx, k)
						over := time.Since(dl)
						cancel()
						if err == nil {
							b.Errorf("%s: a runaway call succeeded", classes[k].name)
							return
						}
						mu.Lock()
						overruns[k] = append(overruns[k], over)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		b.StopTimer()
		return overruns
	}
	report := func(b *testing.B, name string, o []time.Duration) {
		slices.Sort(o)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(o[len(o)/2]), name+"-p50-ms")
		b.ReportMetric(ms(o[len(o)*99/100]), name+"-p99-ms")
		b.ReportMetric(ms(o[len(o)-1]), name+"-max-ms")
	}

	b.Run("native", func(b *testing.B) {
		o := run(b, func(ctx context.Context, _ int) error { return spinUntilDone(ctx) })
		report(b, "native", slices.Concat(o...))
	})
	b.Run("sandbox", func(b *testing.B) {
		e := newTestEngine(b, EngineOptions{MaxCPUWait: time.Second, DeadlineFallback: *deadlineFallback})
		lim := longLimits()
		lim.MaxInstances = callers
		plugins := make([]*Plugin, len(classes))
		for k, c := range classes {
			l := lim
			if c.name == "unmeterable" {
				l.CallTimeout = time.Minute // deadline mode: the caller's deadline ends it
			}
			plugins[k] = load(b, newTestTenant(b, e, SandboxOptions{ID: c.name, Limits: l}), c.name, c.wasm)
			plugins[k].breaker.off = true // every call fails on purpose
		}
		o := run(b, func(ctx context.Context, k int) error {
			_, _, err := plugins[k].Call(ctx, seedCommand, []byte(classes[k].body), nil)
			return err
		})
		for k, c := range classes {
			report(b, c.name, o[k])
		}
		report(b, "all", slices.Concat(o...))
	})
}

// deadlineFallback adds the unmeterable class to BenchmarkDeadlineOverrun.
var deadlineFallback = flag.Bool("deadline-fallback", false, "BenchmarkDeadlineOverrun: run an unmeterable guest in deadline mode too (EngineOptions.DeadlineFallback)")

// spinSink keeps spinUntilDone's work from being optimised away.
var spinSink uint64

// spinUntilDone computes until ctx is done, checking it every 100 000
// iterations, as a native runaway loop that honours its context would, and
// returns ctx's error.
func spinUntilDone(ctx context.Context) error {
	x := uint64(88172645463325252)
	for ctx.Err() == nil {
		for range 100_000 {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	spinSink += x
	return ctx.Err()
}
