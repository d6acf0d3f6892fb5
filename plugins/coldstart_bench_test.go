package plugins

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkColdStart measures a cold instance of Go guests, started from the
// plugin's pre-initialised state and by running _initialize (an engine with
// NoPreInit), and pre-initialised in fresh pages (an engine keeping no closed
// memories, MemoryPool -1: every page the instance touches is faulted in),
// alternating the three in every iteration so that the load of a shared
// machine falls on all alike. It reports the median of each (ms) and the
// ratio of the first two; ns/op is one of each.
func BenchmarkColdStart(b *testing.B) {
	for _, name := range []string{"kitchen", "../examples/moderation"} {
		b.Run(goGuestName(name), func(b *testing.B) {
			wasm := goWasm(b, name)
			pre := benchPlugin(b, wasm, 100*time.Millisecond)
			if ok, why := pre.pre.status(); !ok {
				b.Fatalf("not pre-initialised: %s", why)
			}
			lim := testLimits()
			e := newTestEngine(b, EngineOptions{NoPreInit: true})
			plain := load(b, newTestTenant(b, e, SandboxOptions{ID: "plain", Limits: lim}), "plain", wasm)
			e = newTestEngine(b, EngineOptions{MemoryPool: -1})
			fresh := load(b, newTestTenant(b, e, SandboxOptions{ID: "fresh", Limits: lim}), "fresh", wasm)
			var withSnap, withInit, inFresh []time.Duration
			start := func(p *Plugin) time.Duration {
				t := time.Now()
				i, err := p.newInstance(nil)
				d := time.Since(t)
				if err != nil {
					b.Fatal(err)
				}
				i.close()
				return d
			}
			b.ReportAllocs()
			for b.Loop() {
				withSnap = append(withSnap, start(pre))
				withInit = append(withInit, start(plain))
				inFresh = append(inFresh, start(fresh))
			}
			b.ReportMetric(float64(median(inFresh).Microseconds())/1000, "preinit-fresh-pages-ms")
			s, i := median(withSnap), median(withInit)
			b.ReportMetric(float64(s.Microseconds())/1000, "preinit-ms")
			b.ReportMetric(float64(i.Microseconds())/1000, "init-ms")
			b.ReportMetric(float64(i)/float64(s), "x-faster")
		})
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// goGuestName is the last element of a goWasm name.
func goGuestName(name string) string {
	for k := len(name) - 1; k >= 0; k-- {
		if name[k] == '/' {
			return name[k+1:]
		}
	}
	return name
}
