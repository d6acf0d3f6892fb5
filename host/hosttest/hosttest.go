// Package hosttest runs a real imhook server (host.Server) for tests in other
// packages: its configuration validated, served until the test ends, and
// stopped gracefully then, with Run's error reported.
//
//	cfg := host.Default()
//	cfg.DataDir, cfg.Server.Addr, cfg.Admin.Addr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
//	srv := hosttest.Run(t, cfg, nil)
package hosttest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
)

// readyWithin bounds the wait for the tenants to load: long, because a
// loaded CI machine compiles plugins slowly.
const readyWithin = 2 * time.Minute

// Run starts a server with cfg (nil logger: discard) and returns it once its
// tenants are loaded. It stops at the end of the test.
func Run(tb testing.TB, cfg host.Config, logger *slog.Logger) *host.Server {
	tb.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, logger)
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Errorf("host.Server.Run: %v", err)
		}
	})
	for deadline := time.Now().Add(readyWithin); !srv.Directory().Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("tenants not loaded after %s", readyWithin)
		}
	}
	return srv
}
