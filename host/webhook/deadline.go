package webhook

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// callContext is a callback's context: the server's lifetime plus the
// callback's deadline, like context.WithDeadline, but it arms a timer only
// when something waits on Done. On the common path nothing does: the
// instance is idle, the guest runs under its own CPU limit and reads the
// deadline through Deadline and Err. context.WithDeadline arms and stops a
// runtime timer and registers with its parent on every callback, which perf
// put at 0.3-0.5 us per callback of imhook serve (timer locks and context).
//
// Close must be called when the callback is done, as a CancelFunc would be.
type callContext struct {
	context.Context // the parent: the server's lifetime

	deadline time.Time

	arm    sync.Once
	armed  atomic.Bool
	timed  context.Context // context.WithDeadline, made by the first Done
	cancel context.CancelFunc
}

func newCallContext(parent context.Context, timeout time.Duration) *callContext {
	return &callContext{Context: parent, deadline: time.Now().Add(timeout)}
}

// Deadline returns the callback's deadline.
func (c *callContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done returns a channel closed at the deadline or when the parent is done,
// arming the timer on first use.
func (c *callContext) Done() <-chan struct{} {
	c.arm.Do(func() {
		c.timed, c.cancel = context.WithDeadline(c.Context, c.deadline)
		c.armed.Store(true)
	})
	return c.timed.Done()
}

// Err reports the parent's error, or context.DeadlineExceeded once the
// deadline has passed, whether or not Done was armed.
func (c *callContext) Err() error {
	if c.armed.Load() {
		return c.timed.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Close releases the timer, if Done armed one.
func (c *callContext) Close() {
	if c.armed.Load() {
		c.cancel()
	}
}
