package webhook

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/sdk/openim"
)

// testEnv is a Handler over a fresh registry and sandbox, closed at the end
// of the test.
type testEnv struct {
	h   *Handler
	dir *tenants.Directory
	reg *registry.Registry
}

// newTestEnv builds a testEnv; with start, the directory is loaded (and so
// ready) before it returns.
func newTestEnv(tb testing.TB, start bool) *testEnv {
	tb.Helper()
	backend, err := bolt.Open(filepath.Join(tb.TempDir(), "imhook.db"), bolt.Options{NoSync: true})
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
	h, err := New(Options{Directory: dir, MaxConcurrent: 8, CallTimeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return &testEnv{h: h, dir: dir, reg: reg}
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
