package plugins

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/sdk/openim"
)

// BenchmarkTail measures the latency of the moderation example's calls under
// the closed load of imhook bench --compare (16 callers, every call through
// Plugin.CallWire with the mix's single-chat text) on one CPU slot, as a
// pinned server runs, without HTTP: what is left is waiting for an instance
// or the slot, the guest's work and its garbage collection, instance
// recycling (every 100 000 calls) and creation. Variants, alternated round by
// round so that the load of a shared machine falls on all alike:
//
//   - before: instances run _initialize (NoPreInit), a call keeps its slot
//     until it returns unless a lighter tenant waits;
//   - preinit: instances start from the snapshot;
//   - yield: a call hands its slot to its own tenant's waiting calls at the
//     end of each slice;
//   - after: both (the default).
//
// It reports each variant's p50, p99 and p999 (the median over rounds), in
// microseconds, and logs the instructions per call (p50, p999, max: the
// guest's work, which the machine's load does not change) and how many calls
// ran a million or more: the guest's garbage collection.
func BenchmarkTail(b *testing.B) {
	body := []byte(singleText)
	req, err := openim.ParseRequest(openim.BeforeSendSingleMsg.String(), body, openim.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	wire := req.AppendWire(nil)
	wasm := goWasm(b, "../examples/moderation")
	type variant struct {
		name           string
		preinit, own   bool
		p              *Plugin
		p50, p99, p999 []float64
		insns          []uint64
	}
	vs := []*variant{{name: "before"}, {name: "preinit", preinit: true}, {name: "yield", own: true}, {name: "after", preinit: true, own: true}}
	for _, v := range vs {
		e := newTestEngine(b, EngineOptions{CPUSlots: 1, NoPreInit: !v.preinit})
		e.cpu.ownYield = v.own
		tn := newTestTenant(b, e, SandboxOptions{ID: v.name, Limits: sdkBenchLimits(), Config: map[string]string{"banned_words": "spam"}})
		v.p = load(b, tn, "moderation", wasm)
	}
	const callers = 16
	perRound := max(b.N, 1000)
	round := func(v *variant) {
		lat := make([][]time.Duration, callers)
		insns := make([][]uint64, callers)
		var wg sync.WaitGroup
		for c := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dst := make([]byte, 0, 512)
				for range perRound / callers {
					start := time.Now()
					_, info, err := v.p.CallWire(context.Background(), openim.BeforeSendSingleMsg.String(), wire, dst[:0])
					lat[c] = append(lat[c], time.Since(start))
					if err != nil {
						b.Error(err)
						return
					}
					insns[c] = append(insns[c], info.Instructions)
				}
			}()
		}
		wg.Wait()
		v.insns = append(v.insns, slices.Concat(insns...)...)
		all := slices.Concat(lat...)
		slices.Sort(all)
		q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))]) / 1e3 }
		v.p50, v.p99, v.p999 = append(v.p50, q(0.5)), append(v.p99, q(0.99)), append(v.p999, q(0.999))
	}
	b.ResetTimer()
	for range 5 {
		for _, v := range vs {
			round(v)
		}
	}
	b.StopTimer()
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	for _, v := range vs {
		b.ReportMetric(med(v.p50), v.name+"-p50-us")
		b.ReportMetric(med(v.p99), v.name+"-p99-us")
		b.ReportMetric(med(v.p999), v.name+"-p999-us")
		slices.Sort(v.insns)
		n := len(v.insns)
		long := n - sort.Search(n, func(k int) bool { return v.insns[k] >= 1_000_000 })
		b.Logf("%-8s p50 %v p99 %v p999 %v us (rounds); instructions p50 %d p999 %d max %d, %d of %d calls >= 1M; pool %+v", v.name,
			fmt.Sprint(v.p50), fmt.Sprint(v.p99), fmt.Sprint(v.p999), v.insns[n/2], v.insns[n*999/1000], v.insns[n-1], long, n, v.p.Stats())
	}
}
