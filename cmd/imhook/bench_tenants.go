package main

// imhook bench --tenants: the server's memory with many tenants registered
// and some of them running the moderation plugin.

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

const (
	targetTenantsRSS      = int64(2) << 30 // 1,000 tenants, 100 active, at most (issue 5)
	memCallbacksPerTenant = 20             // callbacks sent to each active tenant
)

// MemoryReport is the result of --tenants.
type MemoryReport struct {
	Machine        Machine  `json:"machine"`
	Tenants        int      `json:"tenants"`
	Active         int      `json:"active"`
	IdleRSSMiB     float64  `json:"rss_registered_mib"`
	RSSMiB         float64  `json:"rss_mib"`
	PeakRSSMiB     float64  `json:"peak_rss_mib"`
	Callbacks      int64    `json:"callbacks"`
	Errors         int64    `json:"errors"`
	UploadMedianMS float64  `json:"upload_to_active_median_ms"`
	Target         []Target `json:"targets"`
}

// memory registers many tenants, activates the moderation plugin for some,
// sends callbacks to each of those and reports the server's RSS.
func (b *bencher) memory(ctx context.Context) (*MemoryReport, error) {
	wasm, err := os.ReadFile(b.o.moderation)
	if err != nil {
		return nil, fmt.Errorf("moderation plugin: %w (run make examples or pass --moderation)", err)
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	c, err := b.startImhook(ctx, "imhook")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	conf := map[string]string{"banned_words": loadgen.BannedWord}
	id := func(i int) string { return fmt.Sprintf("t%04d", i) }
	for i := range b.o.tenants {
		if err := c.createTenant(ctx, id(i), conf); err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	b.logf("%d tenants registered", b.o.tenants)
	idle, err := loadgen.ReadProc(c.pid())
	if err != nil {
		return nil, err
	}
	var uploads []float64
	urls := make([]string, 0, b.o.active)
	for i := range b.o.active {
		d, err := c.install(ctx, id(i), "moderation", wasm)
		if err != nil {
			return nil, err
		}
		uploads = append(uploads, float64(d)/float64(time.Millisecond))
		urls = append(urls, c.base+"/hooks/"+id(i))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	b.logf("%d plugins active", b.o.active)
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
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rep := &MemoryReport{Machine: machine(b.pin), Tenants: b.o.tenants, Active: b.o.active,
		IdleRSSMiB: mib(idle.RSS), RSSMiB: mib(res.ServerRSS), PeakRSSMiB: mib(res.ServerPeakRSS),
		Callbacks: res.Requests, Errors: res.Errors, UploadMedianMS: statOf(uploads).Median}
	rep.Target = []Target{{
		Name: fmt.Sprintf("%d tenants, %d active: peak RSS", b.o.tenants, b.o.active), Value: rep.PeakRSSMiB, Unit: "MiB",
		Limit: "<= 2048 MiB", Met: res.ServerPeakRSS <= targetTenantsRSS,
		Detail: fmt.Sprintf("%.0f MiB with the tenants registered only, %.0f MiB after the callbacks", rep.IdleRSSMiB, rep.RSSMiB),
	}}
	return rep, nil
}

func (r *MemoryReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --tenants %d --active %d: %d CPUs (%s), %s\n", r.Tenants, r.Active, m.CPUs, m.CPUModel, m.GoVersion)
	fmt.Fprintf(w, "RSS with the tenants registered: %.0f MiB; after %d callbacks to the %d active tenants: %.0f MiB (peak %.0f MiB)\n",
		r.IdleRSSMiB, r.Callbacks, r.Active, r.RSSMiB, r.PeakRSSMiB)
	fmt.Fprintf(w, "upload to active, median over the %d uploads: %.0f ms\n", r.Active, r.UploadMedianMS)
	printTargets(w, r.Target)
}
