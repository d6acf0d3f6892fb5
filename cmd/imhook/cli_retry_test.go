package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// busyServer answers the first refusals requests with status and the
// Retry-After retry (none when empty), then 200 with the body it got.
func busyServer(t *testing.T, refusals int32, status int, retry string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var seen atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if seen.Add(1) <= refusals {
			if retry != "" {
				w.Header().Set("Retry-After", retry)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, `{"error":"every upload slot is busy; retry after Retry-After"}`)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

// TestClientRetriesBusyServer: an upload refused with 429 or 503 and
// Retry-After (the server's upload slots were busy) is sent again after
// that long, the body whole, and the CLI says so on stderr.
func TestClientRetriesBusyServer(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		srv, seen := busyServer(t, 1, status, "1")
		var stderr bytes.Buffer
		c := &apiClient{url: srv.URL, token: "op", stderr: &stderr}
		b, _, err := c.do(context.Background(), apiRequest{method: "POST", path: "/v1/tenants/t/plugins/p", body: []byte("module bytes")})
		if err != nil || string(b) != "module bytes" {
			t.Fatalf("%d: do = %q, %v; want the retried request's answer", status, b, err)
		}
		if seen.Load() != 2 {
			t.Errorf("%d: server saw %d requests, want 2", status, seen.Load())
		}
		if !strings.Contains(stderr.String(), "every upload slot is busy") || !strings.Contains(stderr.String(), "retrying in 1s") {
			t.Errorf("%d: stderr %q does not say it retries", status, stderr.String())
		}
	}
}

// TestClientRetryBounds: the CLI does not retry a refusal without
// Retry-After, nor past its retry budget, and then says it gave up.
func TestClientRetryBounds(t *testing.T) {
	srv, seen := busyServer(t, 100, http.StatusServiceUnavailable, "")
	c := &apiClient{url: srv.URL, token: "op"}
	if _, _, err := c.do(context.Background(), apiRequest{method: "GET", path: "/v1/tenants"}); err == nil || seen.Load() != 1 {
		t.Fatalf("503 without Retry-After: %v after %d requests, want an error after 1", err, seen.Load())
	}

	srv, seen = busyServer(t, 100, http.StatusTooManyRequests, "1")
	c = &apiClient{url: srv.URL, token: "op", retryFor: 1500 * time.Millisecond}
	_, _, err := c.do(context.Background(), apiRequest{method: "POST", path: "/v1/tenants/t/plugins/p", body: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "gave up retrying after 1.5s") || !strings.Contains(err.Error(), "HTTP 429") {
		t.Fatalf("always busy: %v, want it to give up and say why", err)
	}
	// Each retry waits the 1 s asked, so a 1.5 s budget allows one at most;
	// a slow first request may leave room for none.
	if n := seen.Load(); n < 1 || n > 2 {
		t.Errorf("server saw %d requests in a 1.5 s budget of 1 s waits, want 1 or 2", n)
	}
}
