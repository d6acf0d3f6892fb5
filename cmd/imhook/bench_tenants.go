package main

// imhook bench --tenants: the server's memory and start-up time with many
// tenants registered, some of them running the moderation plugin, and the
// callback latency across those.

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

const (
	targetTenantsRSS      = int64(8) << 30   // 10,000 tenants, 1,000 active, at most (issue 19)
	targetStartup         = 10 * time.Second // a server with 10,000 tenants ready, at most (issue 19)
	memCallbacksPerTenant = 20               // callbacks sent to each active tenant
	// seedWorkers is how many admin calls seed the server at once: the
	// admin API serves them concurrently, and one at a time 10,000 tenants
	// took about three minutes.
	seedWorkers = 8
	// installWorkers is how many uploads run at once: the server compiles
	// two at a time and answers 503 beyond, which the client retries for
	// 30 s only; each worker then waits for its version to serve, which
	// holds no upload slot.
	installWorkers = 4
	// benchIdleTimeout is the server's sandbox.idle_timeout in this bench
	// (--env may override it): short, so that the memory after the idle
	// release is measured within seconds, idleWait after the callbacks.
	benchIdleTimeout = "2s"
	idleWait         = 6 * time.Second
)

// MemoryReport is the result of --tenants.
type MemoryReport struct {
	Machine Machine `json:"machine"`
	Tenants int     `json:"tenants"`
	Active  int     `json:"active"`
	// SeedSeconds is the time the admin API took to register the tenants
	// (seedWorkers calls at once).
	SeedSeconds float64 `json:"seed_s"`
	// IdleRSSMiB is the RSS with the tenants registered and no plugin.
	IdleRSSMiB float64 `json:"rss_registered_mib"`
	// StartupMS is a restart's time from the process's start to /readyz
	// 200, with every tenant and plugin in the registry; ReadyRSSMiB the
	// RSS then, before any callback (the registry-only memory of a server
	// that serves plugins).
	StartupMS   float64 `json:"startup_ms"`
	ReadyRSSMiB float64 `json:"rss_ready_mib"`
	// ReadyFileMiB and FileMiB are the file-backed parts of ReadyRSSMiB and
	// RSSMiB (RssFile): the bbolt store's pages mapped into the process,
	// the plugins' stored bytes among them, which the kernel may reclaim.
	ReadyFileMiB float64 `json:"rss_ready_file_mib"`
	FileMiB      float64 `json:"rss_file_mib"`
	// RSSMiB is the RSS after the callbacks, PeakRSSMiB the peak since the
	// restart; PerActiveMiB is (RSSMiB - ReadyRSSMiB) / Active.
	RSSMiB       float64 `json:"rss_mib"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	PerActiveMiB float64 `json:"per_active_mib"`
	// ReleasedRSSMiB is the RSS idleWait after the callbacks, once the
	// idle instances are released (sandbox.idle_timeout benchIdleTimeout).
	ReleasedRSSMiB float64 `json:"rss_released_mib"`
	Callbacks      int64   `json:"callbacks"`
	Errors         int64   `json:"errors"`
	// Callback latency across the active tenants, from the load generator.
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	// UploadMedianMS is the median upload-to-active time of the active
	// tenants' plugins (installWorkers uploads at once).
	UploadMedianMS float64  `json:"upload_to_active_median_ms"`
	Target         []Target `json:"targets"`
}

// memory registers many tenants, activates the moderation plugin for some,
// restarts the server to time its start-up, sends callbacks to each active
// tenant and reports the server's RSS at each step and the latency.
func (b *bencher) memory(ctx context.Context) (*MemoryReport, error) {
	wasm, err := os.ReadFile(b.o.moderation)
	if err != nil {
		return nil, fmt.Errorf("moderation plugin: %w (run make examples or pass --moderation)", err)
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	b.o.env = append([]string{"IMHOOK_SANDBOX__IDLE_TIMEOUT=" + benchIdleTimeout}, b.o.env...)
	c, err := b.startImhook(ctx, "imhook")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	conf := map[string]string{"banned_words": loadgen.BannedWord}
	id := func(i int) string { return fmt.Sprintf("t%05d", i) }
	seedStart := time.Now()
	err = parallel(ctx, seedWorkers, b.o.tenants, func(i int) error { return c.createTenant(ctx, id(i), conf) })
	if err != nil {
		return nil, err
	}
	seed := time.Since(seedStart)
	b.logf("%d tenants registered in %s", b.o.tenants, seed)
	idle, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	uploads := make([]float64, b.o.active)
	urls := make([]string, b.o.active)
	err = parallel(ctx, installWorkers, b.o.active, func(i int) error {
		d, err := c.install(ctx, id(i), "moderation", wasm)
		uploads[i] = float64(d) / float64(time.Millisecond)
		urls[i] = c.base + "/hooks/" + id(i)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.logf("%d plugins active", b.o.active)
	startup, err := b.restart(ctx, c)
	if err != nil {
		return nil, err
	}
	b.logf("restarted with %d tenants in %s", b.o.tenants, startup)
	ready, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	res, err := loadgen.Run(ctx, loadgen.Config{
		URLs: urls, Mix: loadgen.DefaultMix(), Connections: b.o.connections,
		Requests: int64(b.o.active * memCallbacksPerTenant), Duration: loadgen.MaxDuration / 2, ServerPID: c.pid(),
	})
	if err != nil {
		return nil, err
	}
	if res.Errors > 0 {
		return nil, fmt.Errorf("%d of %d callbacks failed; first: %s", res.Errors, res.Requests, res.FirstError)
	}
	after, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(idleWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	released, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep := &MemoryReport{Machine: machine(b.pin), Tenants: b.o.tenants, Active: b.o.active,
		SeedSeconds: seed.Seconds(), IdleRSSMiB: mib(idle.RSS), StartupMS: ms(startup), ReadyRSSMiB: mib(ready.RSS),
		ReadyFileMiB: mib(ready.FileRSS), FileMiB: mib(after.FileRSS),
		RSSMiB: mib(res.ServerRSS), PeakRSSMiB: mib(res.ServerPeakRSS), ReleasedRSSMiB: mib(released.RSS),
		PerActiveMiB: mib(res.ServerRSS-ready.RSS) / float64(b.o.active),
		Callbacks:    res.Requests, Errors: res.Errors,
		P50MS: ms(res.P50), P99MS: ms(res.P99), P999MS: ms(res.P999), UploadMedianMS: statOf(uploads).Median}
	rep.Target = []Target{{
		Name: fmt.Sprintf("%d tenants, %d active: peak RSS", b.o.tenants, b.o.active), Value: rep.PeakRSSMiB, Unit: "MiB",
		Limit: "<= 8192 MiB", Met: res.ServerPeakRSS <= targetTenantsRSS,
		Detail: fmt.Sprintf("%.0f MiB ready with the registry only, %.0f MiB after the callbacks, %.1f MiB per active tenant", rep.ReadyRSSMiB, rep.RSSMiB, rep.PerActiveMiB),
	}, {
		Name: fmt.Sprintf("start-up with %d tenants", b.o.tenants), Value: rep.StartupMS, Unit: "ms",
		Limit: "<= 10000 ms", Met: startup <= targetStartup, Detail: "process start to /readyz 200",
	}}
	return rep, nil
}

// parallel runs do(0..n-1) on workers goroutines and returns the first
// error; the others stop taking work after it.
func parallel(ctx context.Context, workers, n int, do func(i int) error) error {
	var (
		next  atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first.Load() == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return ctx.Err()
}

func (r *MemoryReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --tenants %d --active %d: %d CPUs (%s), %s\n", r.Tenants, r.Active, m.CPUs, m.CPUModel, m.GoVersion)
	fmt.Fprintf(w, "tenants registered through the admin API in %.1f s (%d calls at once); RSS then: %.0f MiB\n", r.SeedSeconds, seedWorkers, r.IdleRSSMiB)
	fmt.Fprintf(w, "restart with %d tenants (%d with a plugin): ready in %.0f ms, RSS %.0f MiB (%.0f MiB of it file-backed)\n",
		r.Tenants, r.Active, r.StartupMS, r.ReadyRSSMiB, r.ReadyFileMiB)
	fmt.Fprintf(w, "after %d callbacks to the %d active tenants: RSS %.0f MiB (%.0f MiB file-backed; peak %.0f MiB), %.2f MiB per active tenant\n",
		r.Callbacks, r.Active, r.RSSMiB, r.FileMiB, r.PeakRSSMiB, r.PerActiveMiB)
	fmt.Fprintf(w, "%s later, the idle instances released: RSS %.0f MiB\n", idleWait, r.ReleasedRSSMiB)
	fmt.Fprintf(w, "callback latency across the active tenants: p50 %.2f ms, p99 %.2f ms, p999 %.2f ms\n", r.P50MS, r.P99MS, r.P999MS)
	fmt.Fprintf(w, "upload to active, median over the %d uploads (%d at once): %.0f ms\n", r.Active, installWorkers, r.UploadMedianMS)
	printTargets(w, r.Target)
}
