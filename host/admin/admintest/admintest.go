// Package admintest starts a real admin API on a loopback port for tests: a
// bbolt registry in a temporary directory, a sandbox engine with an in-memory
// compilation cache, and a fasthttp server. The imhook CLI tests drive it like
// a deployed server.
//
//	srv := admintest.Start(t, admin.Options{})
//	resp, _ := http.Get(srv.URL + "/v1/whoami")
package admintest

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// OperatorToken is the operator token of a Server started without one.
const OperatorToken = "test-operator-token"

// TestCallTimeout is the call time limit of a Server started without one.
// The production default (100ms) is too tight for tests on a shared machine
// running -race: a trivial guest call would now and then fail with cpu_time.
// A test of the CPU limit sets its own.
const TestCallTimeout = 5 * time.Second

// Server is a running admin API.
type Server struct {
	// URL is the base URL, such as "http://127.0.0.1:40123".
	URL string
	// OperatorToken is the operator's bearer token.
	OperatorToken string
	// Registry and Engine are the ones the API uses.
	Registry *registry.Registry
	Engine   *plugins.Engine
}

// Start starts the admin API with opt on 127.0.0.1 and stops it when the test
// ends. Fields of opt left zero are filled in: Registry (bbolt in tb.TempDir),
// Engine (memory-only cache), OperatorToken (the constant OperatorToken), and
// Defaults.CallTimeout (TestCallTimeout). Start fails the test on any error.
func Start(tb testing.TB, opt admin.Options) *Server {
	tb.Helper()
	ctx := context.Background()
	if opt.Registry == nil {
		st, err := bolt.Open(filepath.Join(tb.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
		if err != nil {
			tb.Fatalf("admintest: open store: %v", err)
		}
		reg, err := registry.New(ctx, st, registry.Options{})
		if err != nil {
			tb.Fatalf("admintest: registry: %v", err)
		}
		tb.Cleanup(func() { _ = reg.Close() })
		opt.Registry = reg
	}
	if opt.Engine == nil {
		eng, err := plugins.NewEngine(ctx, plugins.EngineOptions{Commands: openim.CommandName})
		if err != nil {
			tb.Fatalf("admintest: engine: %v", err)
		}
		tb.Cleanup(func() { _ = eng.Close(context.Background()) })
		opt.Engine = eng
	}
	if opt.Defaults.CallTimeout == 0 {
		opt.Defaults.CallTimeout = TestCallTimeout
	}
	if opt.OperatorToken == "" {
		opt.OperatorToken = OperatorToken
	}
	api, err := admin.New(opt)
	if err != nil {
		tb.Fatalf("admintest: admin.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("admintest: listen: %v", err)
	}
	srv := &fasthttp.Server{
		Handler:            api.Handler(),
		MaxRequestBodySize: api.MaxRequestBodySize(),
		ReadTimeout:        30 * time.Second,
		IdleTimeout:        time.Second,
		Name:               "imhook-admintest",
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Shutdown()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			tb.Errorf("admintest: serve: %v", err)
		}
	})
	return &Server{
		URL:           "http://" + ln.Addr().String(),
		OperatorToken: opt.OperatorToken,
		Registry:      opt.Registry,
		Engine:        opt.Engine,
	}
}
