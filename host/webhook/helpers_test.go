package webhook

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// testEnv is a Handler over a fresh registry and sandbox, closed at the end
// of the test.
type testEnv struct {
	h   *Handler
	dir *tenants.Directory
	reg *registry.Registry
	eng *plugins.Engine
	m   *metrics.Metrics
}

// newTestEnv builds a testEnv; with start, the directory is loaded (and so
// ready) before it returns.
func newTestEnv(tb testing.TB, start bool) *testEnv {
	tb.Helper()
	backend, err := bolt.Open(filepath.Join(tb.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := registry.New(tb.Context(), backend, registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { reg.Close() })
	eng, err := plugins.NewEngine(tb.Context(), plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { eng.Close(context.Background()) })
	dir, err := tenants.New(tenants.Options{Registry: reg, Engine: eng})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { dir.Close(context.Background()) })
	if start {
		if err := dir.Start(tb.Context()); err != nil {
			tb.Fatal(err)
		}
	}
	m := metrics.New()
	h, err := New(Options{Directory: dir, Metrics: m, MaxConcurrent: 8, CallTimeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return &testEnv{h: h, dir: dir, reg: reg, eng: eng, m: m}
}

// install creates tenant with the module of testdata/<guest>.wasm as its
// active plugin guest, and waits until the directory serves it. The
// directory must be started.
func (e *testEnv) install(tb testing.TB, tenant, guest string) {
	tb.Helper()
	e.installFile(tb, tenant, guest, filepath.Join("testdata", guest+".wasm"))
}

// installFile is install with the module at path, as plugin guest.
func (e *testEnv) installFile(tb testing.TB, tenant, guest, path string) {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := tb.Context()
	if _, _, err := e.reg.CreateTenant(ctx, tenant, registry.Settings{}); err != nil {
		tb.Fatal(err)
	}
	info, err := e.eng.Inspect(ctx, wasm, limits.Default())
	if err != nil {
		tb.Fatal(err)
	}
	hash := info.Hash
	vi := registry.VersionInfo{Hash: hash, Size: int64(info.Size), ABIVersion: info.ABIVersion, Commands: info.Commands}
	if _, _, err := e.reg.AddVersion(ctx, tenant, guest, wasm, vi, registry.AnyRevision); err != nil {
		tb.Fatal(err)
	}
	t, err := e.reg.Activate(ctx, tenant, guest, hash, registry.AnyRevision)
	if err != nil {
		tb.Fatal(err)
	}
	st, _, err := e.dir.Await(ctx, tenant, t.Revision)
	if err != nil || len(st.Plugins) != 1 || st.Plugins[0].Serving != hash {
		tb.Fatalf("tenant[%s] plugin[%s] not serving: %+v %v", tenant, guest, st, err)
	}
}

// counter returns the value of the series of the counter name whose labels
// include labels (name=value pairs), or 0.
func (e *testEnv) counter(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	fams, err := e.m.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range s.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// listen serves e's handler over loopback as host.Server does, with
// readTimeout, and returns the address.
func (e *testEnv) listen(tb testing.TB, readTimeout time.Duration) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: e.h.Serve, ErrorHandler: e.h.ErrorHandler, ReadTimeout: readTimeout}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	tb.Cleanup(func() { srv.Shutdown(); <-done })
	return ln.Addr().String()
}
