package baseline_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/cmd/imhook/internal/baseline"
	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// Benchmarks for docs/performance.md. BenchmarkServe runs the four servers
// of `imhook bench --compare` in this process, over loopback, so that
// `go test -cpuprofile` shows where a callback's time goes (client frames
// included: read the server's, under webhook, tenants, plugins and wazero).
//
//	go test -run '^$' -bench . -benchmem ./cmd/imhook/internal/baseline/

// benchServer is a running server to benchmark and its tenant's base URL.
type benchServer struct {
	name string
	url  func(b *testing.B) string
}

// benchImhook runs imhook with tenant "bench" running guest with the
// moderation configuration, under the default limits.
func benchImhook(b *testing.B, guest []byte) string {
	b.Helper()
	cfg := host.Default()
	cfg.DataDir = b.TempDir()
	cfg.Sandbox.CacheDir = filepath.Join(cfg.DataDir, "cache")
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = ""
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, nil)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() { stop(); <-done })
	if _, _, err := srv.Registry().CreateTenant(ctx, "bench", registry.Settings{Config: map[string]string{"banned_words": loadgen.BannedWord}}); err != nil {
		b.Fatal(err)
	}
	hash, err := srv.Install(ctx, "bench", "plugin", guest)
	if err != nil {
		b.Fatal(err)
	}
	waitServingB(b, srv, "bench", hash)
	return "http://" + srv.Addr().String() + "/hooks/bench"
}

func waitServingB(b *testing.B, srv *host.Server, tenant, hash string) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if st, ok := srv.Directory().Stats(tenant); ok {
			for _, p := range st.Plugins {
				if p.Serving == hash {
					return
				}
			}
		}
	}
	b.Fatalf("tenant[%s] not serving %s", tenant, hash)
}

func benchNative(b *testing.B, h fasthttp.RequestHandler) string {
	return serveB(b, h) + "/hooks/bench"
}

func serveB(b *testing.B, h fasthttp.RequestHandler) string {
	b.Helper()
	s := baseline.NewServer(h)
	ln, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(ln)
	b.Cleanup(func() { s.Shutdown() })
	return "http://" + ln.Addr().String()
}

// trivial returns the trivial example, built once per test binary.
func trivial(b *testing.B) []byte {
	return wasmbuild.GoOnce(b, "github.com/imhook/imhook/examples/trivial", wasmbuild.Options{})
}

// BenchmarkServe sends the callback mix of loadgen.DefaultMix, one callback
// per iteration from GOMAXPROCS parallel keep-alive clients.
func BenchmarkServe(b *testing.B) {
	servers := []benchServer{
		{"a-native-moderation", func(b *testing.B) string {
			h, err := baseline.Moderation(map[string]string{"banned_words": loadgen.BannedWord})
			if err != nil {
				b.Fatal(err)
			}
			return benchNative(b, h)
		}},
		{"b-imhook-moderation", func(b *testing.B) string { return benchImhook(b, moderationWasm) }},
		{"c-imhook-trivial", func(b *testing.B) string { return benchImhook(b, trivial(b)) }},
		{"n-native-neutral", func(b *testing.B) string { return benchNative(b, baseline.Neutral()) }},
	}
	mix := loadgen.DefaultMix()
	var sched []int
	for i, c := range mix {
		for range c.Weight {
			sched = append(sched, i)
		}
	}
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			base := s.url(b)
			var next atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				defer fasthttp.ReleaseRequest(req)
				defer fasthttp.ReleaseResponse(resp)
				for pb.Next() {
					c := mix[sched[next.Add(1)%uint64(len(sched))]]
					req.Reset()
					req.Header.SetMethod(fasthttp.MethodPost)
					req.SetRequestURI(base + "/" + c.Command)
					req.Header.SetContentType("application/json")
					req.SetBodyRaw(c.Body)
					if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != http.StatusOK {
						b.Errorf("%s: %v %d %s", c.Name, err, resp.StatusCode(), resp.Body())
						return
					}
				}
			})
		})
	}
}

// withCustomSection returns wasm with a custom section appended holding n,
// so every call gets a module with a new hash and the same code: a new
// upload, compiled from scratch.
func withCustomSection(wasm []byte, n int) []byte {
	name := "imhook-bench"
	payload := strconv.Itoa(n)
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(name)))
	sec = append(sec, name...)
	sec = append(sec, payload...)
	out := append(bytes.Clone(wasm), 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(sec)))
	return append(out, sec...)
}

// BenchmarkUploadToActive measures a new version of the moderation example
// (about 2.7 MB) going through the admin API's upload path (Inspect:
// compile, validate, instantiate once; store; activate) until the live
// directory serves it and a callback is answered by it. Each iteration
// uploads new bytes (a custom section differs), so nothing comes from the
// compilation cache.
func BenchmarkUploadToActive(b *testing.B) {
	cfg := host.Default()
	cfg.DataDir = b.TempDir()
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = ""
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, nil)
	if err != nil {
		stop()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { stop(); <-done }()
	if _, _, err := srv.Registry().CreateTenant(ctx, "bench", registry.Settings{Config: map[string]string{"banned_words": loadgen.BannedWord}}); err != nil {
		b.Fatal(err)
	}
	url := "http://" + srv.Addr().String() + "/hooks/bench/callbackBeforeSendSingleMsgCommand"
	body := loadgen.DefaultMix()[1].Body // refused by the plugin once it serves
	n := 0
	for b.Loop() {
		n++
		hash, err := srv.Install(ctx, "bench", "moderation", withCustomSection(moderationWasm, n))
		if err != nil {
			b.Fatal(err)
		}
		waitServingB(b, srv, "bench", hash)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI(url)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetBody(body)
		if err := fasthttp.Do(req, resp); err != nil || !bytes.Contains(resp.Body(), []byte(`"nextCode":1`)) {
			b.Fatalf("first callback: %v %s", err, resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	b.ReportMetric(float64(len(moderationWasm))/1e6, "MB")
}
