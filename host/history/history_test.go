package history_test

import (
	"testing"
	"time"

	"github.com/imhook/imhook/host/history"
	"github.com/imhook/imhook/host/metrics"
)

func TestSampleBucketsCallsFailuresAndP99(t *testing.T) {
	m := metrics.New()
	h := history.New(m.Registry())
	t0 := time.Date(2026, 12, 6, 1, 0, 30, 0, time.UTC)
	m.Call("acme", "cmd", metrics.OutcomeOK, 0.001)
	if err := h.Sample(t0); err != nil { // baseline: the call before it is not charted
		t.Fatal(err)
	}
	for range 98 {
		m.Call("acme", "cmd", metrics.OutcomeOK, 0.0002)
	}
	m.Call("acme", "cmd", metrics.OutcomePolicy, 0.4)
	m.Call("acme", "cmd", metrics.OutcomePolicy, 0.4)
	m.Failure("acme", "cmd", "trap")
	m.Failure("acme", "cmd", "trap")
	m.Call("other", "cmd", metrics.OutcomeOK, 0.001)
	if err := h.Sample(t0.Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	m.Call("acme", "cmd", metrics.OutcomeOK, 0.0002)
	if err := h.Sample(t0.Add(2 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := h.Tenant("acme", t0.Add(2*time.Minute))
	if len(got) != history.Minutes {
		t.Fatalf("%d minutes, want %d", len(got), history.Minutes)
	}
	first, last := got[len(got)-3], got[len(got)-1]
	if first.Calls != 100 || first.Failures != 2 || first.P99 != 0.5 {
		t.Errorf("minute 1: %+v, want 100 calls, 2 failures, p99 0.5", first)
	}
	if last.Calls != 1 || last.Failures != 0 || last.P99 != 0.00025 {
		t.Errorf("minute 3: %+v, want 1 call, p99 0.00025", last)
	}
	if got[len(got)-2].Calls != 0 {
		t.Errorf("minute 2: %+v, want empty", got[len(got)-2])
	}
	// An hour later the ring has moved on: nothing left.
	for _, mi := range h.Tenant("acme", t0.Add(2*time.Hour)) {
		if mi.Calls != 0 {
			t.Fatalf("after an hour: %+v", mi)
		}
	}
	// A deleted tenant's history goes with its series.
	m.Forget("acme")
	if err := h.Sample(t0.Add(3 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, mi := range h.Tenant("acme", t0.Add(2*time.Minute)) {
		if mi.Calls != 0 {
			t.Fatalf("after Forget: %+v", mi)
		}
	}
}
