package main

// imhook bench --serve-baseline (hidden): the native servers of --compare,
// run as child processes like imhook serve so that both sides are measured
// the same way.

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/imhook/imhook/cmd/imhook/internal/baseline"
)

// serveBaselineMain runs the native baseline server until ctx ends. It
// prints "listening <addr>" once it accepts connections.
func serveBaselineMain(ctx context.Context, o benchOptions, stdout, stderr io.Writer) int {
	conf, err := configMap(o.config)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	h := baseline.Neutral()
	if o.serveBaseline == "moderation" {
		if h, err = baseline.Moderation(conf); err != nil {
			fmt.Fprintf(stderr, "imhook bench: %v\n", err)
			return exitUsage
		}
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: baseline: %v\n", err)
		return exitAPI
	}
	srv := baseline.NewServer(h)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	select {
	case <-ctx.Done():
		_ = srv.Shutdown()
		return exitOK
	case err := <-done:
		fmt.Fprintf(stderr, "imhook bench: baseline: %v\n", err)
		return exitAPI
	}
}
