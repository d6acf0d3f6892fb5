package queue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/boltqueue"
)

var ctx = context.Background()

func openStore(t *testing.T, path string) *boltqueue.Store {
	t.Helper()
	s, err := boltqueue.Open(path, boltqueue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newQueue(t *testing.T, s queue.Store, opt queue.Options) *queue.Queue {
	t.Helper()
	opt.Store = s
	if opt.MinBackoff == 0 {
		opt.MinBackoff, opt.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	if opt.Poll == 0 {
		opt.Poll = 10 * time.Millisecond
	}
	q, err := queue.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	t.Cleanup(func() { _ = q.Shutdown(ctx) })
	return q
}

// recorder records deliveries.
type recorder struct {
	mu   sync.Mutex
	seen []queue.Event
	done chan struct{}
	want int
}

func newRecorder(want int) *recorder { return &recorder{done: make(chan struct{}), want: want} }

func (r *recorder) add(ev *queue.Event) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, *ev)
	if len(r.seen) == r.want {
		close(r.done)
	}
	return len(r.seen)
}

func (r *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("%d of %d deliveries after 20s", len(r.seen), r.want)
	}
}

// waitStats polls the tenant's stats until ok holds and none of its
// deliveries is in flight here, so the counters include every finished one.
func waitStats(t *testing.T, q *queue.Queue, tenant string, ok func(queue.TenantStats) bool) queue.TenantStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := q.Stats(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		// A delivery counts itself after its store operation: with one in
		// flight, Pending can already be 0 while its count is not in.
		if ok(st) && st.InFlightHere == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats of %s never as wanted: %+v", tenant, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProcessesEveryEventOnce: every event of several tenants is processed
// once and acked.
func TestProcessesEveryEventOnce(t *testing.T) {
	rec := newRecorder(90)
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Process: func(_ context.Context, ev *queue.Event) queue.Outcome { rec.add(ev); return queue.Outcome{} },
	})
	var want []string
	for i := range 30 {
		for _, tenant := range []string{"a", "b", "c"} {
			ev, err := q.Enqueue(ctx, tenant, "cmd", fmt.Appendf(nil, "%d", i))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, ev.ID)
		}
	}
	rec.wait(t)
	var got []string
	for _, ev := range rec.seen {
		got = append(got, ev.ID)
		if ev.Attempt != 1 {
			t.Errorf("event %s attempt %d", ev.ID, ev.Attempt)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("processed %d events, want each of %d once", len(got), len(want))
	}
	for _, tenant := range []string{"a", "b", "c"} {
		st := waitStats(t, q, tenant, func(st queue.TenantStats) bool { return st.Pending == 0 })
		if st.Counts.Processed != 30 || st.Counts.Enqueued != 30 {
			t.Fatalf("%s counts %+v", tenant, st.Counts)
		}
	}
}

// TestRetryThenSuccess: a retried event comes back with the same ID and the
// next attempt number, and the previous error.
func TestRetryThenSuccess(t *testing.T) {
	rec := newRecorder(3)
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Process: func(_ context.Context, ev *queue.Event) queue.Outcome {
			if rec.add(ev) < 3 {
				return queue.Outcome{Err: errors.New("out-call failed"), Retry: true}
			}
			return queue.Outcome{}
		},
	})
	ev, err := q.Enqueue(ctx, "a", "cmd", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t)
	for i, got := range rec.seen {
		if got.ID != ev.ID || got.Attempt != i+1 {
			t.Fatalf("delivery %d: id %s attempt %d, want %s and %d", i, got.ID, got.Attempt, ev.ID, i+1)
		}
	}
	if rec.seen[1].LastError != "out-call failed" {
		t.Fatalf("second attempt's LastError %q", rec.seen[1].LastError)
	}
	st := waitStats(t, q, "a", func(st queue.TenantStats) bool { return st.Pending == 0 })
	if st.Counts.Retried != 2 || st.Counts.Processed != 1 || st.Dead != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDeadLetters: a permanent failure is dead-lettered at once; a retried
// one after MaxAttempts, with its last error; a revived one runs again.
func TestDeadLetters(t *testing.T) {
	var mu sync.Mutex
	attempts := map[string]int{}
	heal := false
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Limits: func(string) queue.Limits { return queue.Limits{MaxAttempts: 3} },
		Process: func(_ context.Context, ev *queue.Event) queue.Outcome {
			mu.Lock()
			defer mu.Unlock()
			attempts[string(ev.Body)]++
			if heal {
				return queue.Outcome{}
			}
			if string(ev.Body) == "permanent" {
				return queue.Outcome{Err: errors.New("bad input")}
			}
			return queue.Outcome{Err: fmt.Errorf("trap %d", ev.Attempt), Retry: true}
		},
	})
	perm, _ := q.Enqueue(ctx, "a", "cmd", []byte("permanent"))
	retr, _ := q.Enqueue(ctx, "a", "cmd", []byte("retried"))
	st := waitStats(t, q, "a", func(st queue.TenantStats) bool { return st.Dead == 2 })
	if st.Pending != 0 || st.Counts.Dead != 2 || st.Counts.Retried != 2 {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	if attempts["permanent"] != 1 || attempts["retried"] != 3 {
		t.Fatalf("attempts %v, want permanent 1 and retried 3", attempts)
	}
	heal = true
	mu.Unlock()
	d, err := q.Store().DeadEvent(ctx, "a", retr.ID)
	if err != nil || d.LastError != "trap 3" || d.Attempt != 3 {
		t.Fatalf("dead letter %+v, %v", d, err)
	}
	if d, _ := q.Store().DeadEvent(ctx, "a", perm.ID); d.LastError != "bad input" || d.Attempt != 1 {
		t.Fatalf("permanent dead letter %+v", d)
	}
	if err := q.Revive(ctx, "a", retr.ID); err != nil {
		t.Fatal(err)
	}
	waitStats(t, q, "a", func(st queue.TenantStats) bool { return st.Dead == 1 && st.Pending == 0 && st.Counts.Processed == 1 })
}

// TestFIFOPerTenant: with one delivery at a time per tenant, a tenant's
// events are processed in the order Enqueue returned.
func TestFIFOPerTenant(t *testing.T) {
	rec := newRecorder(60)
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Workers: 4, PerTenant: 1,
		Process: func(_ context.Context, ev *queue.Event) queue.Outcome { rec.add(ev); return queue.Outcome{} },
	})
	want := map[string][]string{}
	for i := range 20 {
		for _, tenant := range []string{"a", "b", "c"} {
			ev, err := q.Enqueue(ctx, tenant, "cmd", fmt.Appendf(nil, "%d", i))
			if err != nil {
				t.Fatal(err)
			}
			want[tenant] = append(want[tenant], ev.ID)
		}
	}
	rec.wait(t)
	got := map[string][]string{}
	for _, ev := range rec.seen {
		got[ev.Tenant] = append(got[ev.Tenant], ev.ID)
	}
	for tenant := range want {
		if !slices.Equal(got[tenant], want[tenant]) {
			t.Fatalf("tenant %s processed out of order", tenant)
		}
	}
}

// TestSlowTenantDoesNotDelayOthers: a tenant whose deliveries hang holds at
// most PerTenant workers; another tenant's events are all processed while
// they hang.
func TestSlowTenantDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	fast := newRecorder(50)
	var slowRunning sync.WaitGroup
	slowRunning.Add(2)
	var slowStarted atomic.Int32
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Workers: 4, PerTenant: 2,
		Process: func(ctx context.Context, ev *queue.Event) queue.Outcome {
			if ev.Tenant == "slow" {
				if slowStarted.Add(1) <= 2 {
					slowRunning.Done()
				}
				<-release
				return queue.Outcome{}
			}
			fast.add(ev)
			return queue.Outcome{}
		},
	})
	for i := range 100 {
		if _, err := q.Enqueue(ctx, "slow", "cmd", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	slowRunning.Wait() // the slow tenant holds its two workers
	for i := range 50 {
		if _, err := q.Enqueue(ctx, "fast", "cmd", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	fast.wait(t) // all of fast's events while slow's hang
	st, _ := q.Stats(ctx, "slow")
	if st.InFlightHere != 2 || st.Counts.Processed != 0 {
		t.Fatalf("slow tenant: %+v; want 2 in flight, none processed", st)
	}
	close(release)
	waitStats(t, q, "slow", func(st queue.TenantStats) bool { return st.Pending == 0 })
}

// TestFull: past MaxDepth Enqueue fails with a FullError, counted.
func TestFull(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	q := newQueue(t, openStore(t, filepath.Join(t.TempDir(), "q.db")), queue.Options{
		Limits:  func(string) queue.Limits { return queue.Limits{MaxDepth: 3} },
		Process: func(ctx context.Context, ev *queue.Event) queue.Outcome { <-block; return queue.Outcome{} },
	})
	for range 3 {
		if _, err := q.Enqueue(ctx, "a", "cmd", nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := q.Enqueue(ctx, "a", "cmd", nil)
	if !errors.Is(err, queue.ErrFull) {
		t.Fatalf("4th: %v", err)
	}
	if st, _ := q.Stats(ctx, "a"); st.Counts.Refused != 1 {
		t.Fatalf("refused %d", st.Counts.Refused)
	}
}

// TestShutdown: deliveries running finish within the timeout; one that does
// not is cancelled, left unacked, and runs again after a restart.
func TestShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openStore(t, path)
	started := make(chan string, 2)
	q, err := queue.New(queue.Options{Store: s, Workers: 2, PerTenant: 2, Poll: 10 * time.Millisecond,
		Process: func(ctx context.Context, ev *queue.Event) queue.Outcome {
			started <- string(ev.Body)
			if string(ev.Body) == "quick" {
				time.Sleep(50 * time.Millisecond)
				return queue.Outcome{}
			}
			<-ctx.Done()
			return queue.Outcome{Err: ctx.Err(), Retry: true}
		}})
	if err != nil {
		t.Fatal(err)
	}
	q.Start()
	q.Enqueue(ctx, "a", "cmd", []byte("quick"))
	stuck, _ := q.Enqueue(ctx, "a", "cmd", []byte("stuck"))
	<-started
	<-started
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := q.Shutdown(sctx); err == nil {
		t.Fatal("Shutdown with a stuck delivery returned nil")
	}
	if _, err := q.Enqueue(ctx, "a", "cmd", nil); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Enqueue after Shutdown: %v", err)
	}
	s.Close()
	s = openStore(t, path)
	evs, err := s.Claim(ctx, "a", 5, time.Now())
	if err != nil || len(evs) != 1 || evs[0].ID != stuck.ID || evs[0].Attempt != 1 {
		t.Fatalf("after restart: %+v, %v; want the stuck event only, attempt 1", evs, err)
	}
}

// TestPoisonEventDeadLettered: an event whose deliveries died with the
// process (begun, never ended) as many times as the tenant's max attempts
// is dead-lettered with the reason, without running once more.
func TestPoisonEventDeadLettered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openStore(t, path)
	now := time.Now()
	ev := &queue.Event{ID: queue.NewID(now), Tenant: "a", Command: "cmd", Body: []byte("poison"), Enqueued: now, Attempt: 1}
	if err := s.Enqueue(ctx, ev, 10); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two deliveries, each killed with the process
		evs, err := s.Claim(ctx, "a", 1, time.Now())
		if err != nil || len(evs) != 1 {
			t.Fatalf("claim: %d events, %v", len(evs), err)
		}
		if err := s.Begin(ctx, evs[0]); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = openStore(t, path)
	}
	var ran atomic.Int64
	q := newQueue(t, s, queue.Options{
		Limits:  func(string) queue.Limits { return queue.Limits{MaxAttempts: 2} },
		Process: func(context.Context, *queue.Event) queue.Outcome { ran.Add(1); return queue.Outcome{} },
	})
	waitStats(t, q, "a", func(st queue.TenantStats) bool { return st.Dead == 1 })
	if n := ran.Load(); n != 0 {
		t.Fatalf("the poison event ran %d more times after its max attempts", n)
	}
	dead, err := s.DeadEvent(ctx, "a", ev.ID)
	if err != nil || !strings.Contains(dead.LastError, queue.DiedError) || dead.Attempt != 2 {
		t.Fatalf("dead letter %+v, %v; want attempt 2 (both died) and last error %q", dead, err, queue.DiedError)
	}
}
