package plugins

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestCPUShareFastPath(t *testing.T) {
	s := newCPUShare(2, time.Second)
	var a tenantCPU
	for range 2 {
		if waited, err := s.acquire(context.Background(), &a); err != nil || waited {
			t.Fatalf("free slot: waited %v, err %v", waited, err)
		}
	}
	if st := s.stats(); st.Busy != 2 || st.Slots != 2 || a.held != 2 {
		t.Fatalf("stats %+v, held %d", st, a.held)
	}
	s.release(&a, time.Millisecond, time.Now())
	s.release(&a, time.Millisecond, time.Now())
	if st := s.stats(); st.Busy != 0 || a.held != 0 || a.burned == 0 {
		t.Fatalf("after release: stats %+v, held %d, burned %v", st, a.held, a.burned)
	}
}

// TestCPUShareLightestFirst: a freed slot goes to the waiting tenant that
// burned the least, not to the one that asked first.
func TestCPUShareLightestFirst(t *testing.T) {
	s := newCPUShare(1, 10*time.Second)
	heavy, light := &tenantCPU{}, &tenantCPU{}
	now := time.Now()
	heavy.burned, heavy.last = float64(time.Second), now

	if _, err := s.acquire(context.Background(), heavy); err != nil {
		t.Fatal(err)
	}
	order := make(chan *tenantCPU, 2)
	var wg sync.WaitGroup
	enqueue := func(tc *tenantCPU) {
		wg.Go(func() {
			if _, err := s.acquire(context.Background(), tc); err != nil {
				t.Error(err)
				return
			}
			order <- tc
			s.release(tc, 0, time.Time{})
		})
		waitFor(t, func() bool { return s.stats().Waiting > 0 && waitingOf(s, tc) })
	}
	enqueue(heavy) // first in line
	enqueue(light)
	s.release(heavy, 10*time.Millisecond, time.Now())
	wg.Wait()
	if first := <-order; first != light {
		t.Fatal("the heavy tenant got the slot while a lighter one waited")
	}
}

func waitingOf(s *cpuShare, tc *tenantCPU) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.waiters {
		if w.t == tc {
			return true
		}
	}
	return false
}

// waitFor polls cond; the bound is generous because it only guards a hang.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
	}
}

// TestCPUShareBoundedWait: a call that finds every slot held gives up after
// maxWait with errCPUBusy (or at its ctx), and leaks no slot.
func TestCPUShareBoundedWait(t *testing.T) {
	s := newCPUShare(1, 20*time.Millisecond)
	var a, b tenantCPU
	if _, err := s.acquire(context.Background(), &a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquire(context.Background(), &b); !errors.Is(err, errCPUBusy) {
		t.Fatalf("want errCPUBusy, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.acquire(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Fatalf("want the ctx error, got %v", err)
	}
	s.release(&a, 0, time.Time{})
	if st := s.stats(); st.Busy != 0 || st.Waiting != 0 || b.held != 0 {
		t.Fatalf("leak: %+v, held %d", st, b.held)
	}
}

// TestCPUShareNoLeak hammers the share with calls that give up as slots are
// handed to them; run with -race. Every slot must come back.
func TestCPUShareNoLeak(t *testing.T) {
	s := newCPUShare(2, 200*time.Microsecond)
	tenants := make([]tenantCPU, 4)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			tc := &tenants[g%len(tenants)]
			for range 300 {
				if _, err := s.acquire(context.Background(), tc); err != nil {
					continue
				}
				time.Sleep(time.Duration(g%3) * 50 * time.Microsecond)
				s.release(tc, time.Microsecond, time.Now())
			}
		})
	}
	wg.Wait()
	if st := s.stats(); st.Busy != 0 || st.Waiting != 0 {
		t.Fatalf("slots leaked: %+v", st)
	}
	for k := range tenants {
		if tenants[k].held != 0 {
			t.Fatalf("tenant %d holds %d slots", k, tenants[k].held)
		}
	}
}

// TestCPUShareYield: a running call of a heavy tenant hands its slot to a
// waiting lighter tenant at a yield point, then gets one back; with no
// lighter waiter it keeps running.
func TestCPUShareYield(t *testing.T) {
	s := newCPUShare(1, 10*time.Second)
	heavy, light := &tenantCPU{}, &tenantCPU{}
	if _, err := s.acquire(context.Background(), heavy); err != nil {
		t.Fatal(err)
	}
	if waited, err := s.yield(context.Background(), heavy, time.Second, time.Now()); err != nil || waited || heavy.held != 1 {
		t.Fatalf("alone: yield = %v, %v, held %d; want no wait", waited, err, heavy.held)
	}
	got := make(chan struct{})
	go func() {
		if _, err := s.acquire(context.Background(), light); err != nil {
			t.Error(err)
		}
		close(got)
		time.Sleep(5 * time.Millisecond)
		s.release(light, time.Microsecond, time.Now())
	}()
	waitFor(t, func() bool { return waitingOf(s, light) })
	if waited, err := s.yield(context.Background(), heavy, time.Second, time.Now()); err != nil || !waited {
		t.Fatalf("yield to a lighter waiter = %v, %v; want a wait", waited, err)
	}
	select {
	case <-got:
	default:
		t.Fatal("yield returned before the light tenant ran")
	}
	if heavy.held != 1 {
		t.Fatalf("heavy holds %d slots after yield", heavy.held)
	}
	s.release(heavy, 0, time.Time{})
	if st := s.stats(); st.Busy != 0 {
		t.Fatalf("leak %+v", st)
	}
}

// TestCPUShareYieldOwn: a long call hands its slot, at a yield point, to a
// waiting call of its own tenant, so that the tenant's short calls are not
// held up for the whole of a long one (a guest's garbage collection), then
// gets it back. Only one call of a tenant is parked so at a time: the call
// it handed over to keeps the slot at its own yield points.
func TestCPUShareYieldOwn(t *testing.T) {
	s := newCPUShare(1, 10*time.Second)
	tenant := &tenantCPU{}
	if _, err := s.acquire(context.Background(), tenant); err != nil {
		t.Fatal(err)
	}
	ran, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		if _, err := s.acquire(context.Background(), tenant); err != nil {
			t.Error(err)
		}
		// A third call waits meanwhile: this one, while the first is
		// parked, does not hand over.
		third := make(chan struct{})
		go func() {
			if _, err := s.acquire(context.Background(), tenant); err != nil {
				t.Error(err)
			}
			s.release(tenant, time.Microsecond, time.Now())
			close(third)
		}()
		waitFor(t, func() bool { return s.stats().Waiting == 2 })
		if waited, err := s.yield(context.Background(), tenant, time.Millisecond, time.Now()); waited || err != nil {
			t.Errorf("a second yield to the tenant's own calls while one is parked = %v, %v; want none", waited, err)
		}
		close(ran)
		s.release(tenant, time.Microsecond, time.Now())
		<-third
	}()
	waitFor(t, func() bool { return waitingOf(s, tenant) })
	if waited, err := s.yield(context.Background(), tenant, time.Millisecond, time.Now()); err != nil || !waited {
		t.Fatalf("yield to the tenant's own waiting call = %v, %v; want a wait", waited, err)
	}
	select {
	case <-ran:
	default:
		t.Fatal("yield returned before the waiting call ran")
	}
	if tenant.held != 1 {
		t.Fatalf("tenant holds %d slots after yield", tenant.held)
	}
	s.release(tenant, 0, time.Time{})
	<-done
	if st := s.stats(); st.Busy != 0 {
		t.Fatalf("leak %+v", st)
	}
}
