package plugins

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// This file holds the whole CPU limit, so that it can be replaced in one place
// (by an instruction budget injected into the module, see
// plugins/internal/wasmrewrite) without touching the pool or the call path.
//
// How it works today: a tenant whose CallTimeout is set gets a runtime with
// WithCloseOnContextDone(true), which makes wazero compile a check of the
// module's "closed" flag into every loop header and function entry, and watch
// ctx.Done() during each call. The context wazero sees is the instance itself:
// its Done channel is closed by a per-instance time.AfterFunc timer, reset
// before and stopped after each guest call. So a call allocates no context and
// no timer; the only per-call cost left is the watcher goroutine wazero starts.
//
// A timer that fires closes the channel for good: the instance is dropped after
// that, whether or not the guest had already returned.

// expire is the timer callback: it makes the instance's context done, and
// wazero then closes the module with sys.ExitCodeDeadlineExceeded.
func (i *instance) expire() {
	i.expired.Store(true)
	close(i.done)
}

// armInit starts the instantiation deadline (InitTimeout) when calls are limited.
func (i *instance) armInit(l Limits) {
	if !l.cpuLimited() {
		return
	}
	i.done = make(chan struct{})
	i.deadline = time.Now().Add(l.InitTimeout)
	i.timer = time.AfterFunc(l.InitTimeout, i.expire)
}

// disarm stops the timer after a guest call and reports whether the deadline
// had passed (the instance is then dead and must be dropped).
func (i *instance) disarm() (expired bool) {
	if i.timer == nil {
		return false
	}
	if !i.timer.Stop() {
		// The callback ran or is running; make sure Err reports it.
		i.dead = true
		return true
	}
	return i.expired.Load()
}

// invoke calls fn with i.stack under the per-call deadline: CallTimeout, or the
// caller's deadline when that is earlier.
func (i *instance) invoke(ctx context.Context, fn api.Function) error {
	if i.timer == nil {
		return fn.CallWithStack(i, i.stack)
	}
	d := i.p.lim.CallTimeout
	if dl, ok := ctx.Deadline(); ok {
		if r := time.Until(dl); r < d {
			d = r
		}
	}
	if d <= 0 {
		return errDeadlineBeforeCall
	}
	i.deadline = time.Now().Add(d)
	i.timer.Reset(d)
	err := fn.CallWithStack(i, i.stack)
	if i.disarm() && err == nil {
		// The guest returned just as the deadline passed. Its reply is good,
		// but the module is being closed under us: drop the instance.
		i.dead = true
	}
	return err
}

// sleepBound shortens a granted real sleep so that it ends just after the call
// deadline: the guest is then stopped at its next loop or call.
func (i *instance) sleepBound(ns int64) int64 {
	if i.timer == nil || i.deadline.IsZero() {
		return ns
	}
	if r := int64(time.Until(i.deadline)) + int64(time.Millisecond); ns > r {
		ns = r
	}
	return ns
}

// The instance is the context.Context of its own guest calls: host functions
// find it with ctx.Value(instanceKey{}) and wazero watches its Done channel.

// Deadline implements context.Context.
func (i *instance) Deadline() (time.Time, bool) { return i.deadline, !i.deadline.IsZero() }

// Done implements context.Context. It is nil (never done) without a CPU limit.
func (i *instance) Done() <-chan struct{} { return i.done }

// Err implements context.Context.
func (i *instance) Err() error {
	if i.expired.Load() {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context.
func (i *instance) Value(key any) any {
	if key == (instanceKey{}) {
		return i
	}
	return nil
}

// errDeadlineBeforeCall: the caller's deadline passed before the guest was
// entered; the instance is intact and goes back to the pool.
var errDeadlineBeforeCall = fmt.Errorf("the caller's deadline passed before the guest was entered: %w", context.DeadlineExceeded)

// instanceKey is the context key of the current *instance.
type instanceKey struct{}
