package webhook

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestCallContext checks that the lazy deadline behaves as
// context.WithDeadline for its users: Deadline, Err after the deadline
// without anyone waiting, Done firing at the deadline, the parent's
// cancellation, and values.
func TestCallContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")

	c := newCallContext(parent, 50*time.Millisecond)
	defer c.Close()
	if dl, ok := c.Deadline(); !ok || time.Until(dl) > 50*time.Millisecond || time.Until(dl) < 0 {
		t.Fatalf("Deadline = %v, %v", dl, ok)
	}
	if c.Err() != nil || c.Value(key{}) != "v" {
		t.Fatalf("fresh context: Err %v, Value %v", c.Err(), c.Value(key{}))
	}
	if c.armed.Load() {
		t.Fatal("a timer was armed before anything waited")
	}
	time.Sleep(60 * time.Millisecond)
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after the deadline, unarmed = %v", c.Err())
	}

	w := newCallContext(parent, 30*time.Millisecond)
	defer w.Close()
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not fire at the deadline")
	}
	if !errors.Is(w.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err after Done = %v", w.Err())
	}

	p, cancel := context.WithCancel(parent)
	k := newCallContext(p, time.Hour)
	defer k.Close()
	cancel()
	if !errors.Is(k.Err(), context.Canceled) {
		t.Fatalf("Err after the parent's cancel, unarmed = %v", k.Err())
	}
	select {
	case <-k.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not follow the parent's cancel")
	}
}
