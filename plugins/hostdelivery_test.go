package plugins

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// callDelivery runs testdata/delivery.wat with body, as a delivery of d when
// d is set, and returns the i32 result and the bytes after it.
func callDelivery(t *testing.T, p *Plugin, d *Delivery, body string) (int32, []byte, error) {
	t.Helper()
	ctx := context.Background()
	if d != nil {
		ctx = WithDelivery(ctx, d)
	}
	out, _, err := p.Call(ctx, seedCommand, []byte(body), nil)
	if err != nil {
		return 0, nil, err
	}
	if len(out) < 4 {
		t.Fatalf("reply %q, want at least 4 bytes", out)
	}
	return int32(binary.LittleEndian.Uint32(out)), out[4:], nil
}

// TestHostDelivery: delivery describes the delivery in the host's context
// (attempt, then ID), through take_result when the buffer is small, and
// answers not_found outside a delivery.
func TestHostDelivery(t *testing.T) {
	p := load(t, newTestTenant(t, newTestEngine(t, EngineOptions{}), SandboxOptions{}), "delivery", wat(t, "delivery"))
	d := &Delivery{ID: "0123456789abcdef0123456789abcdef", Attempt: 3}
	for _, op := range []string{"d", "s"} {
		r, b, err := callDelivery(t, p, d, op)
		if err != nil {
			t.Fatal(err)
		}
		if int(r) != abi.DeliveryHeader+len(d.ID) || binary.LittleEndian.Uint32(b) != 3 || string(b[4:]) != d.ID {
			t.Fatalf("%s: result %d, bytes %q", op, r, b)
		}
	}
	r, _, err := callDelivery(t, p, nil, "d")
	if err != nil || r != int32(abi.StatusNotFound) {
		t.Fatalf("outside a delivery: %d, %v; want not_found", r, err)
	}
}

// TestHostRetry: retry marks the delivery in the context, with its delay;
// a negative delay is invalid; outside a delivery it is not_found and marks
// nothing.
func TestHostRetry(t *testing.T) {
	p := load(t, newTestTenant(t, newTestEngine(t, EngineOptions{}), SandboxOptions{}), "delivery", wat(t, "delivery"))
	d := &Delivery{ID: "x", Attempt: 1}
	if r, _, err := callDelivery(t, p, d, "r"); err != nil || r != 0 {
		t.Fatalf("retry: %d, %v", r, err)
	}
	if ok, after := d.RetryAsked(); !ok || after != 250*time.Millisecond {
		t.Fatalf("RetryAsked %v %v", ok, after)
	}
	d2 := &Delivery{ID: "y", Attempt: 1}
	if _, _, err := callDelivery(t, p, d2, "r!"); KindOf(err) != KindGuestError {
		t.Fatalf("failing call: %v, want a guest error", err)
	}
	if ok, _ := d2.RetryAsked(); !ok {
		t.Fatal("a call that asked for a retry and failed: not marked")
	}
	d3 := &Delivery{ID: "z", Attempt: 1}
	if r, _, err := callDelivery(t, p, d3, "n"); err != nil || r != int32(abi.StatusInvalid) {
		t.Fatalf("negative delay: %d, %v; want invalid", r, err)
	}
	if ok, _ := d3.RetryAsked(); ok {
		t.Fatal("a refused retry marked the delivery")
	}
	if r, _, err := callDelivery(t, p, nil, "r"); err != nil || r != int32(abi.StatusNotFound) {
		t.Fatalf("outside a delivery: %d, %v; want not_found", r, err)
	}
}

// TestHostDeliveryOutsideMemory: a buffer outside guest memory stops the
// guest (ABI violation), and the next call on the plugin works.
func TestHostDeliveryOutsideMemory(t *testing.T) {
	p := load(t, newTestTenant(t, newTestEngine(t, EngineOptions{}), SandboxOptions{}), "delivery", wat(t, "delivery"))
	d := &Delivery{ID: "0123456789abcdef0123456789abcdef", Attempt: 1}
	if _, _, err := callDelivery(t, p, d, "x"); KindOf(err) != KindBadReply {
		t.Fatalf("buffer outside memory: %v, want bad_reply", err)
	}
	if r, _, err := callDelivery(t, p, d, "d"); err != nil || r <= 0 {
		t.Fatalf("next call: %d, %v", r, err)
	}
}
