package admin

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestHeavyGate: one heavy request per tenant, heavySlots for everybody, a
// short wait for a slot, and answers that say when to retry.
func TestHeavyGate(t *testing.T) {
	t.Parallel()
	g := newHeavyGate()
	g.wait = 10 * time.Millisecond // the wait itself is not under test
	ctx := context.Background()
	status := func(err error) int {
		var ae *APIError
		if !errors.As(err, &ae) || ae.RetryAfter != heavyRetryAfter {
			t.Fatalf("%v: want an *APIError with Retry-After %v", err, heavyRetryAfter)
		}
		return ae.Status
	}

	leaveA, err := g.enter(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.enter(ctx, "a"); status(err) != fasthttp.StatusTooManyRequests {
		t.Fatalf("a second request of tenant a: %v, want 429", err)
	}
	leaveB, err := g.enter(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.enter(ctx, "c"); status(err) != fasthttp.StatusServiceUnavailable {
		t.Fatalf("a third tenant while both slots are held: %v, want 503", err)
	}
	// The refused request of c left no trace: c is not busy.
	leaveA()
	leaveC, err := g.enter(ctx, "c")
	if err != nil {
		t.Fatalf("c once a slot is free: %v", err)
	}
	leaveB()
	leaveC()
	for _, tenant := range []string{"a", "b"} {
		leave, err := g.enter(ctx, tenant)
		if err != nil {
			t.Fatalf("tenant %s after leaving: %v", tenant, err)
		}
		defer leave()
	}
}

// TestHeavyBusyAnswers sends an upload through the handler while the gate is
// full: 429 for a tenant already busy, 503 when every slot is taken, each
// with Retry-After and a message saying what to do.
func TestHeavyBusyAnswers(t *testing.T) {
	t.Parallel()
	a := newAPI(t, "op")
	a.heavy.wait = 10 * time.Millisecond
	upload := func() (int, string, string) {
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI("/v1/tenants/acme/plugins/p/versions")
		req.Header.SetHost("localhost")
		req.Header.Set("Authorization", "Bearer op")
		req.Header.SetContentType("application/wasm")
		req.SetBodyString("\x00asm\x01\x00\x00\x00")
		var rc fasthttp.RequestCtx
		rc.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1234}, nil)
		a.Handler()(&rc)
		return rc.Response.StatusCode(), string(rc.Response.Body()), string(rc.Response.Header.Peek("Retry-After"))
	}

	leave, err := a.heavy.enter(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	status, body, retry := upload()
	if status != 429 || retry != "5" || body != `{"error":"tenant[acme] already has an upload or dry run in progress; send the next one when it has finished"}`+"\n" {
		t.Fatalf("tenant busy: %d %s Retry-After %q", status, body, retry)
	}
	leave()

	for _, other := range []string{"x", "y"} {
		leave, err := a.heavy.enter(context.Background(), other)
		if err != nil {
			t.Fatal(err)
		}
		defer leave()
	}
	status, body, retry = upload()
	if status != 503 || retry != "5" || body != `{"error":"the server is running as many uploads and dry runs as it allows (2, for all tenants); retry in a few seconds"}`+"\n" {
		t.Fatalf("slots full: %d %s Retry-After %q", status, body, retry)
	}
}
