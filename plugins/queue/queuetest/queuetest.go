// Package queuetest is the conformance suite of queue.Store: every backend
// runs Run against a real store (a bbolt file, a real redis-server), so
// that the queue's guarantees hold whichever store an operator picks.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/queue"
)

// Backend opens the store under test.
type Backend struct {
	// New returns an opener of one fresh, empty store for t: each call of
	// the opener opens the same data again (after the previous store was
	// closed), as a restarted process would.
	New func(t *testing.T) func() queue.Store
	// Lease is how long after its holder closed (crashed) a claimed event
	// can be claimed again: 0 when a reopen frees every claim (a store one
	// process owns), else the shared store's lease.
	Lease time.Duration
}

// Run runs the suite.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"FIFO", testFIFO},
		{"ClaimOnce", testClaimOnce},
		{"Ack", testAck},
		{"RetrySchedule", testRetry},
		{"DeadLetter", testDead},
		{"DeadBound", testDeadBound},
		{"DepthBound", testDepth},
		{"DepthBoundConcurrent", testDepthConcurrent},
		{"CrashRecovery", testCrash},
		{"DiedCounts", testDied},
		{"DeleteTenant", testDeleteTenant},
		{"Tenants", testTenants},
		{"Stats", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}

var ctx = context.Background()

func open(t *testing.T, b Backend) (queue.Store, func() queue.Store) {
	t.Helper()
	opener := b.New(t)
	s := opener()
	t.Cleanup(func() { _ = s.Close() })
	return s, func() queue.Store {
		s := opener()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// event returns a new first-attempt event.
func event(tenant string, n int) *queue.Event {
	now := time.Now()
	return &queue.Event{ID: queue.NewID(now), Tenant: tenant, Command: "callbackAfterSendSingleMsgCommand",
		Body: fmt.Appendf(nil, `{"n":%d}`, n), Enqueued: now, Attempt: 1}
}

func enqueue(t *testing.T, s queue.Store, tenant string, n int) []*queue.Event {
	t.Helper()
	var out []*queue.Event
	for i := range n {
		ev := event(tenant, i)
		if err := s.Enqueue(ctx, ev, 1000); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
		out = append(out, ev)
	}
	return out
}

func claim(t *testing.T, s queue.Store, tenant string, n int) []*queue.Event {
	t.Helper()
	evs, err := s.Claim(ctx, tenant, n, time.Now())
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return evs
}

// claimAll claims until none is left, up to wait for events to become
// claimable.
func claimAll(t *testing.T, s queue.Store, tenant string, want int, wait time.Duration) []*queue.Event {
	t.Helper()
	var out []*queue.Event
	deadline := time.Now().Add(wait)
	for len(out) < want {
		evs := claim(t, s, tenant, want-len(out))
		out = append(out, evs...)
		if len(evs) == 0 {
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

func sameEvent(t *testing.T, got, want *queue.Event) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Command != want.Command || string(got.Body) != string(want.Body) ||
		got.Attempt != want.Attempt || !got.Enqueued.Equal(want.Enqueued) {
		t.Fatalf("claimed %+v, want %+v", got, want)
	}
}

// testFIFO: first attempts are claimed in the order Enqueue returned, with
// every field as enqueued.
func testFIFO(t *testing.T, b Backend) {
	s, _ := open(t, b)
	evs := enqueue(t, s, "a", 30)
	var got []*queue.Event
	for len(got) < len(evs) {
		c := claim(t, s, "a", 7)
		if len(c) == 0 {
			t.Fatalf("claimed %d of %d, then none", len(got), len(evs))
		}
		got = append(got, c...)
	}
	for i := range evs {
		sameEvent(t, got[i], evs[i])
	}
}

// testClaimOnce: a claimed event is not handed out again while claimed.
func testClaimOnce(t *testing.T, b Backend) {
	s, _ := open(t, b)
	if evs := claim(t, s, "nobody", 5); len(evs) != 0 {
		t.Fatalf("unknown tenant: claimed %d", len(evs))
	}
	enqueue(t, s, "a", 3)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for _, ev := range claim(t, s, "a", 1) {
				mu.Lock()
				seen[ev.ID]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 3 {
		t.Fatalf("claimed %d distinct events of 3", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s claimed %d times", id, n)
		}
	}
	if evs := claim(t, s, "a", 3); len(evs) != 0 {
		t.Fatalf("claimed %d more while all are claimed", len(evs))
	}
}

// testAck: an acked event is gone, also after a reopen.
func testAck(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	enqueue(t, s, "a", 2)
	evs := claim(t, s, "a", 2)
	for _, ev := range evs {
		if err := s.Ack(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack(ctx, evs[0]); err != nil {
		t.Fatalf("second Ack: %v, want nil", err)
	}
	st, _ := s.Stats(ctx, "a")
	if st.Pending != 0 {
		t.Fatalf("after ack: %+v", st)
	}
	s.Close()
	s = reopen()
	if got := claimAll(t, s, "a", 1, b.Lease+200*time.Millisecond); len(got) != 0 {
		t.Fatalf("after reopen claimed %d acked events", len(got))
	}
}

// testRetry: a retried event is due at its NotBefore, with the attempt and
// error its caller set, after a reopen too; events enqueued later go first.
func testRetry(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	enqueue(t, s, "a", 1)
	ev := claim(t, s, "a", 1)[0]
	ev.Attempt, ev.LastError, ev.NotBefore = 2, "boom", time.Now().Add(700*time.Millisecond)
	if err := s.Retry(ctx, ev); err != nil {
		t.Fatal(err)
	}
	later := enqueue(t, s, "a", 1)[0]
	got := claim(t, s, "a", 5)
	if len(got) != 1 || got[0].ID != later.ID {
		t.Fatalf("before the retry is due: claimed %v, want only the later event", ids(got))
	}
	if err := s.Ack(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Stats(ctx, "a")
	if st.Delayed != 1 || st.Pending != 1 {
		t.Fatalf("stats with one delayed: %+v", st)
	}
	s.Close()
	s = reopen()
	if evs := claim(t, s, "a", 1); len(evs) != 0 && time.Now().Before(ev.NotBefore) {
		t.Fatalf("after reopen, before due: claimed %v", ids(evs))
	}
	evs, err := s.Claim(ctx, "a", 1, ev.NotBefore.Add(b.Lease+time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		// A store with a clock of its own (Redis) needs the real time.
		evs = claimAll(t, s, "a", 1, time.Until(ev.NotBefore)+b.Lease+2*time.Second)
	}
	if len(evs) != 1 || evs[0].ID != ev.ID || evs[0].Attempt != 2 || evs[0].LastError != "boom" {
		t.Fatalf("due retry: claimed %+v", evs)
	}
}

// testDead: a buried event is a dead letter with its error; it can be
// listed, read, revived as a first attempt, and purged.
func testDead(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	enqueue(t, s, "a", 3)
	evs := claim(t, s, "a", 3)
	for i, ev := range evs {
		ev.LastError, ev.Died, ev.Attempt = fmt.Sprintf("failed %d", i), time.Now(), 4
		if n, err := s.Bury(ctx, ev, 100); err != nil || n != 0 {
			t.Fatalf("Bury: %d, %v", n, err)
		}
	}
	s.Close()
	s = reopen()
	st, _ := s.Stats(ctx, "a")
	if st.Dead != 3 || st.Pending != 0 {
		t.Fatalf("stats: %+v", st)
	}
	list, err := s.Dead(ctx, "a", "", 2)
	if err != nil || len(list) != 2 || list[0].ID != evs[0].ID || list[1].ID != evs[1].ID {
		t.Fatalf("Dead page 1: %v, %v", ids(list), err)
	}
	rest, err := s.Dead(ctx, "a", list[1].ID, 10)
	if err != nil || len(rest) != 1 || rest[0].ID != evs[2].ID || rest[0].LastError != "failed 2" || rest[0].Died.IsZero() {
		t.Fatalf("Dead page 2: %+v, %v", rest, err)
	}
	one, err := s.DeadEvent(ctx, "a", evs[1].ID)
	if err != nil || string(one.Body) != string(evs[1].Body) || one.Attempt != 4 {
		t.Fatalf("DeadEvent: %+v, %v", one, err)
	}
	if _, err := s.DeadEvent(ctx, "a", queue.NewID(time.Now())); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("DeadEvent of an unknown id: %v", err)
	}
	if _, err := s.Dead(ctx, "a", queue.NewID(time.Now()), 10); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Dead after an unknown id: %v", err)
	}
	if _, err := s.Dead(ctx, "nobody", queue.NewID(time.Now()), 10); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Dead of an unknown tenant after an id: %v", err)
	}
	if _, err := s.DeadEvent(ctx, "b", evs[1].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("DeadEvent of another tenant's id: %v", err)
	}
	if err := s.Revive(ctx, "a", evs[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Revive(ctx, "a", evs[1].ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second Revive: %v", err)
	}
	got := claimAll(t, s, "a", 1, time.Second)
	if len(got) != 1 || got[0].ID != evs[1].ID || got[0].Attempt != 1 || got[0].LastError != "failed 1" {
		t.Fatalf("revived: %+v", got)
	}
	if n, err := s.Purge(ctx, "a", evs[0].ID); err != nil || n != 1 {
		t.Fatalf("Purge one: %d, %v", n, err)
	}
	if n, err := s.Purge(ctx, "a", ""); err != nil || n != 1 {
		t.Fatalf("Purge all: %d, %v", n, err)
	}
	if st, _ := s.Stats(ctx, "a"); st.Dead != 0 {
		t.Fatalf("after purge: %+v", st)
	}
}

// testDeadBound: past maxDead the oldest dead letters are discarded.
func testDeadBound(t *testing.T, b Backend) {
	s, _ := open(t, b)
	enqueue(t, s, "a", 5)
	evs := claim(t, s, "a", 5)
	discarded := 0
	for _, ev := range evs {
		ev.LastError, ev.Died = "x", time.Now()
		n, err := s.Bury(ctx, ev, 3)
		if err != nil {
			t.Fatal(err)
		}
		discarded += n
	}
	list, _ := s.Dead(ctx, "a", "", 10)
	if discarded != 2 || len(list) != 3 || list[0].ID != evs[2].ID {
		t.Fatalf("discarded %d, kept %v; want 2 and the last three", discarded, ids(list))
	}
}

// testDepth: Enqueue refuses past maxDepth with a FullError; an ack makes
// room; dead letters do not count.
func testDepth(t *testing.T, b Backend) {
	s, _ := open(t, b)
	for i := range 3 {
		if err := s.Enqueue(ctx, event("a", i), 3); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Enqueue(ctx, event("a", 3), 3)
	var fe *queue.FullError
	if !errors.Is(err, queue.ErrFull) || !errors.As(err, &fe) || fe.Tenant != "a" {
		t.Fatalf("4th Enqueue: %v, want a FullError", err)
	}
	if err := s.Enqueue(ctx, event("b", 0), 3); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	ev := claim(t, s, "a", 1)[0]
	if err := s.Enqueue(ctx, event("a", 4), 3); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("a claimed event still counts: %v", err)
	}
	ev.LastError, ev.Died = "x", time.Now()
	if _, err := s.Bury(ctx, ev, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, event("a", 5), 3); err != nil {
		t.Fatalf("after a bury: %v", err)
	}
}

// testDepthConcurrent: concurrent enqueues never pass the bound.
func testDepthConcurrent(t *testing.T, b Backend) {
	s, _ := open(t, b)
	var ok, full atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			err := s.Enqueue(ctx, event("a", i), 10)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, queue.ErrFull):
				full.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || full.Load() != 30 {
		t.Fatalf("%d accepted, %d full; want 10 and 30", ok.Load(), full.Load())
	}
	if st, _ := s.Stats(ctx, "a"); st.Pending != 10 {
		t.Fatalf("pending %d", st.Pending)
	}
}

// testCrash: events claimed but not acked when the store went away are
// claimable again after a reopen (after the lease), with their IDs; acked
// ones are not.
func testCrash(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	evs := enqueue(t, s, "a", 5)
	claimed := claim(t, s, "a", 3)
	if err := s.Ack(ctx, claimed[0]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen()
	got := claimAll(t, s, "a", 4, b.Lease+3*time.Second)
	want := []string{evs[1].ID, evs[2].ID, evs[3].ID, evs[4].ID}
	gotIDs := ids(got)
	slices.Sort(gotIDs)
	slices.Sort(want)
	if !slices.Equal(gotIDs, want) {
		t.Fatalf("after the crash claimed %v, want %v", gotIDs, want)
	}
}

// testTenants: tenants are apart, and Tenants lists those with events.
func testTenants(t *testing.T, b Backend) {
	s, _ := open(t, b)
	enqueue(t, s, "a", 2)
	enqueue(t, s, "b", 1)
	ts, err := s.Tenants(ctx)
	slices.Sort(ts)
	if err != nil || !slices.Equal(ts, []string{"a", "b"}) {
		t.Fatalf("Tenants: %v, %v", ts, err)
	}
	for _, ev := range claim(t, s, "b", 5) {
		if ev.Tenant != "b" {
			t.Fatalf("claimed %s's event for b", ev.Tenant)
		}
		if err := s.Ack(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ts, _ = s.Tenants(ctx)
	if slices.Contains(ts, "b") {
		t.Fatalf("Tenants lists b without events: %v", ts)
	}
}

// testStats: every count and the oldest event's time.
func testStats(t *testing.T, b Backend) {
	s, _ := open(t, b)
	evs := enqueue(t, s, "a", 4)
	c := claim(t, s, "a", 2)
	c[1].Attempt, c[1].NotBefore, c[1].LastError = 2, time.Now().Add(time.Hour), "x"
	if err := s.Retry(ctx, c[1]); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 4 || st.Ready != 2 || st.Claimed != 1 || st.Delayed != 1 || st.Dead != 0 {
		t.Fatalf("stats %+v, want 4 pending: 2 ready, 1 claimed, 1 delayed", st)
	}
	if d := st.Oldest.Sub(evs[0].Enqueued); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("oldest %v, want %v", st.Oldest, evs[0].Enqueued)
	}
	if st, _ := s.Stats(ctx, "nobody"); st != (queue.Stats{}) {
		t.Fatalf("unknown tenant: %+v", st)
	}
}

func ids(evs []*queue.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

// testDied: a delivery begun and not ended (the process died while running
// it) counts as an attempt, durably, every time; one handed back with its
// attempt unchanged (a shutdown) does not.
func testDied(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	ev := enqueue(t, s, "a", 1)[0]
	for want := 2; want <= 3; want++ {
		evs := claim(t, s, "a", 1)
		if len(evs) != 1 {
			t.Fatalf("claimed %d events, want 1", len(evs))
		}
		if err := s.Begin(ctx, evs[0]); err != nil {
			t.Fatal(err)
		}
		s.Close() // the process dies during the delivery
		s = reopen()
		got := claimAll(t, s, "a", 1, b.Lease+3*time.Second)
		if len(got) != 1 || got[0].ID != ev.ID {
			t.Fatalf("after death %d: claimed %v, want %s", want-1, ids(got), ev.ID)
		}
		if got[0].Attempt != want || !strings.HasPrefix(got[0].LastError, queue.DiedError) {
			t.Fatalf("after death %d: attempt %d, last error %q; want attempt %d and %q", want-1, got[0].Attempt, got[0].LastError, want, queue.DiedError)
		}
		// Hand it back unused, as Queue.Shutdown does.
		got[0].NotBefore = time.Now()
		if err := s.Retry(ctx, got[0]); err != nil {
			t.Fatal(err)
		}
	}
	// A released begun claim does not count.
	evs := claimAll(t, s, "a", 1, b.Lease+3*time.Second)
	if len(evs) != 1 {
		t.Fatalf("claimed %d events, want 1", len(evs))
	}
	if err := s.Begin(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	evs[0].NotBefore = time.Now()
	if err := s.Retry(ctx, evs[0]); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = reopen()
	got := claimAll(t, s, "a", 1, b.Lease+3*time.Second)
	if len(got) != 1 || got[0].Attempt != 3 {
		t.Fatalf("after a released claim and a reopen: %d events, attempt %d; want attempt 3 still", len(got), got[0].Attempt)
	}
}

// testDeleteTenant: nothing of a deleted tenant is left, pending, claimed
// or dead, also after a reopen; other tenants keep theirs.
func testDeleteTenant(t *testing.T, b Backend) {
	s, reopen := open(t, b)
	enqueue(t, s, "gone", 4)
	enqueue(t, s, "kept", 2)
	evs := claim(t, s, "gone", 2)
	evs[0].LastError, evs[0].Died = "bad", time.Now()
	if _, err := s.Bury(ctx, evs[0], 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, evs[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		st, err := s.Stats(ctx, "gone")
		if err != nil || st.Pending != 0 || st.Dead != 0 {
			t.Fatalf("%s: stats of the deleted tenant %+v, %v; want nothing", when, st, err)
		}
		if dead, err := s.Dead(ctx, "gone", "", 10); err != nil || len(dead) != 0 {
			t.Fatalf("%s: %d dead letters, %v; want none", when, len(dead), err)
		}
		if ts, _ := s.Tenants(ctx); slices.Contains(ts, "gone") {
			t.Fatalf("%s: Tenants = %v still lists the deleted tenant", when, ts)
		}
		if st, _ := s.Stats(ctx, "kept"); st.Pending != 2 {
			t.Fatalf("%s: the other tenant holds %d events, want 2", when, st.Pending)
		}
	}
	check("after DeleteTenant")
	// The claimed event's worker ends its claim after the delete: nothing
	// comes back.
	_ = s.Ack(ctx, evs[1])
	s.Close()
	s = reopen()
	check("after a reopen")
	if got := claimAll(t, s, "gone", 1, b.Lease+500*time.Millisecond); len(got) != 0 {
		t.Fatalf("claimed %v of the deleted tenant", ids(got))
	}
}
