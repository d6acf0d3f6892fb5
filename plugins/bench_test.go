package plugins

import (
	"context"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

// Benchmarks for docs/performance.md, section "Sandbox". Run with
//
//	go test -run '^$' -bench . -benchmem ./plugins/

func benchPlugin(b *testing.B, wasm []byte, timeout time.Duration) *Plugin {
	b.Helper()
	lim := testLimits()
	lim.CallTimeout = timeout
	return benchPluginLimits(b, wasm, lim, "")
}

func benchPluginLimits(b *testing.B, wasm []byte, lim limits.Limits, cpu CPULimit) *Plugin {
	b.Helper()
	e := newTestEngine(b, EngineOptions{})
	// log_level off: readsync would otherwise log every event (to a discarding logger).
	tn := newTestTenant(b, e, SandboxOptions{ID: "bench", Limits: lim, CPULimit: cpu, Config: map[string]string{"log_level": "off"}})
	return load(b, tn, "bench", wasm)
}

// BenchmarkCall measures one callback on a warm instance under each CPU
// limit, against the same logic run natively:
//
//   - nolimit: CallTimeout 0, the module as uploaded (data segments merged);
//   - metered: the default, an instruction budget injected into the module;
//   - deadline: WithCloseOnContextDone and a per-instance timer, what modules
//     that cannot be metered get.
func BenchmarkCall(b *testing.B) {
	body := []byte(seedBody)
	ctx := context.Background()
	guests := []struct {
		name string
		wasm func(testing.TB) []byte
	}{
		{"echo-wat", watGuest("echo")},
		{"seed-go", goGuest("kitchen")},
		// The SDK example that handles the seed callback, with openim's decoder.
		{"readsync-sdk", goGuest("../examples/readsync")},
	}
	for _, g := range guests {
		// The cost does not depend on the limits' size; small ones fire on a
		// loaded machine.
		for _, lim := range []struct {
			name  string
			force CPULimit
			want  CPULimit
		}{{"nolimit", CPULimitNone, CPULimitNone}, {"metered", "", CPULimitInstructions}, {"deadline", CPULimitDeadline, CPULimitDeadline}} {
			b.Run(g.name+"/"+lim.name, func(b *testing.B) {
				p := benchPluginLimits(b, g.wasm(b), testLimits(), lim.force)
				if p.Info().CPULimit != lim.want {
					b.Fatalf("CPULimit %q, want %q", p.Info().CPULimit, lim.want)
				}
				dst := make([]byte, 0, 512)
				b.ReportAllocs()
				cpu := cpuNow()
				for b.Loop() {
					if _, _, err := p.Call(ctx, seedCommand, body, dst[:0]); err != nil {
						b.Fatal(err)
					}
				}
				reportCPUPerOp(b, cpu)
			})
		}
	}
	b.Run("echo-native", func(b *testing.B) {
		dst := make([]byte, 0, 512)
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			dst = append(dst[:0], body...)
		}
		reportCPUPerOp(b, cpu)
	})
	b.Run("seed-native", func(b *testing.B) {
		dst := make([]byte, 0, 512)
		b.ReportAllocs()
		cpu := cpuNow()
		for b.Loop() {
			dst = nativeSeed(dst[:0], body)
			if len(dst) == 0 {
				b.Fatal("no reply")
			}
		}
		reportCPUPerOp(b, cpu)
	})
}

// BenchmarkInstantiate measures a cold instance start: instantiation,
// _initialize, and closing it again.
func BenchmarkInstantiate(b *testing.B) {
	for _, g := range []struct {
		name string
		wasm func(testing.TB) []byte
	}{{"echo-wat", watGuest("echo")}, {"seed-go", goGuest("kitchen")}} {
		b.Run(g.name, func(b *testing.B) {
			p := benchPlugin(b, g.wasm(b), 100*time.Millisecond)
			b.ReportAllocs()
			cpu := cpuNow()
			for b.Loop() {
				i, err := p.newInstance(nil)
				if err != nil {
					b.Fatal(err)
				}
				i.close()
			}
			reportCPUPerOp(b, cpu)
		})
	}
}

// BenchmarkCompile measures compiling the Go guest with no cache and from the
// on-disk cache (a fresh engine each time, as after a restart).
func BenchmarkCompile(b *testing.B) {
	wasm := goWasm(b, "kitchen")
	ctx := context.Background()
	once := func(b *testing.B, dir string) {
		e, err := NewEngine(ctx, EngineOptions{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close(ctx)
		info, err := e.Inspect(ctx, wasm, testLimits())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(info.CompileTime.Microseconds()), "compile-us/op")
	}
	b.Run("seed-go/cold", func(b *testing.B) {
		for b.Loop() {
			once(b, "")
		}
	})
	b.Run("seed-go/cached", func(b *testing.B) {
		dir := b.TempDir() + "/cache"
		once(b, dir) // fill the cache
		for b.Loop() {
			once(b, dir)
		}
	})
}

// nativeSeed is the kitchen guest's seed handler (testdata/go/kitchen) run
// natively: the baseline for seed-go.
func nativeSeed(dst, body []byte) []byte {
	find := func(b []byte, key string) int {
		for k := 0; k+len(key) <= len(b); k++ {
			if string(b[k:k+len(key)]) == key {
				k += len(key)
				for k < len(b) && (b[k] == ' ' || b[k] == ':') {
					k++
				}
				return k
			}
		}
		return -1
	}
	k := find(body, `"sendID"`)
	if k < 0 || body[k] != '"' {
		return nil
	}
	u := find(body, `"unreadMsgNum"`)
	var n int64
	for u >= 0 && u < len(body) && '0' <= body[u] && body[u] <= '9' {
		n = n*10 + int64(body[u]-'0')
		u++
	}
	next := byte('0')
	if n > 1000 {
		next = '1'
	}
	dst = append(dst, `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":`...)
	return append(dst, next, '}')
}
