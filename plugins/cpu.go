package plugins

import (
	"context"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/limits"
)

// This file holds the whole CPU limit. A Plugin runs in one of three modes
// (CPULimit, reported in ModuleInfo):
//
//   - instructions (the default): the module was rewritten at load by
//     wasmrewrite.Meter to carry an instruction budget ("fuel"). The host sets
//     the budget before a call and reads what was used after; the guest traps
//     itself when it is spent. Nothing runs beside the call: no goroutine, no
//     timer, no check of a context. Host functions bill their own work to the
//     same budget and enforce a wall-clock backstop (hostEnter).
//   - deadline: a module the rewriter cannot handle runs in a runtime with
//     WithCloseOnContextDone(true): wazero compiles a check of the module's
//     "closed" flag into every loop header and function entry, and watches
//     ctx.Done() during each call. The context wazero sees is the instance
//     itself: its Done channel is closed by a per-instance time.AfterFunc
//     timer, reset before and stopped after each guest call. A timer that
//     fires closes the channel for good: the instance is dropped after that.
//   - none: Limits.CallTimeout is zero (benchmarks and trusted code only).
//
// docs/metering.md explains the cost model and the choices.

// CPULimit names how a plugin's runaway calls are stopped.
type CPULimit string

// The CPU limit modes; see ModuleInfo.CPULimit.
const (
	// CPULimitInstructions: an instruction budget injected into the module
	// (Limits.MaxInstructions per call, Limits.InitInstructions for
	// _initialize), plus a wall-clock backstop (Limits.CallTimeout) checked
	// when the guest enters a host function.
	CPULimitInstructions CPULimit = "instructions"
	// CPULimitDeadline: a wall-clock deadline (Limits.CallTimeout) enforced by
	// wazero's WithCloseOnContextDone, for modules that cannot be metered.
	// Calls are 3 to 10 times slower than metered ones.
	CPULimitDeadline CPULimit = "deadline"
	// CPULimitNone: no CPU limit at all (Limits.CallTimeout is zero).
	CPULimitNone CPULimit = "none"
)

// Host-function costs in instructions, billed to the guest's budget. A Go
// guest runs 6 to 9 thousand million counted instructions per second, so
// 1000 is about 150 ns: the round trip into the host and the bookkeeping of a
// cheap host function. Bytes copied cost one each on top.
const (
	hostCallCost = 1000
	// hostLogCost covers formatting and writing one log record.
	hostLogCost = 10_000
	// hostClockEvery is how much host work (in billed instructions) may pass
	// between two readings of the clock for the wall-clock backstop: about
	// 100 cheap host calls or 10 log lines. Reading the clock costs 110-140
	// ns on this kind of VM (no fast vDSO clock), as much as a cheap host
	// call, so it is not done at every entry.
	hostClockEvery = 100_000
)

// expire is the timer callback: it makes the instance's context done, and
// wazero then closes the module with sys.ExitCodeDeadlineExceeded.
func (i *instance) expire() {
	i.expired.Store(true)
	close(i.done)
}

// armInit starts the instantiation deadline (InitTimeout) in deadline mode.
func (i *instance) armInit(l limits.Limits) {
	if i.p.mode != CPULimitDeadline {
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

// begin prepares the per-call CPU state: the instruction budget, and the
// wall-clock backstop, which starts at the first clock reading in a host
// function (see hostEnter) so that a call that does not work the host reads
// no clock.
func (i *instance) begin(ctx context.Context, budget uint64, backstop time.Duration) {
	i.ctx = ctx
	i.budget = budget
	i.backstop = backstop
	i.hostDeadline = time.Time{}
	i.hostWork = 0
	if i.metered {
		i.fuel.Set(budget)
	}
}

// used returns the instructions charged since begin, 0 when not metered.
func (i *instance) used() uint64 {
	if !i.metered {
		return 0
	}
	return i.fuel.Used(i.budget)
}

// invoke calls fn with i.stack. In deadline mode the call runs under
// CallTimeout, or the caller's deadline when that is earlier.
func (i *instance) invoke(ctx context.Context, fn api.Function) error {
	if i.timer == nil {
		if ctx.Err() != nil {
			return errDeadlineBeforeCall
		}
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

// hostEnter is called at the entry of every host function the guest can
// reach (hostCall.bill: imhook's and WASI's). When the
// module is metered it bills cost to the guest's budget, so that a guest
// cannot stretch its budget by looping over host calls, and it checks the
// wall-clock backstop once per hostClockEvery of host work: the call's
// deadline (CallTimeout, or the caller's ctx deadline when earlier) counted
// from the first such check. Either failure stops the guest with KindCPUTime.
// In the other modes it does nothing: the timer covers deadline mode, and
// none is unlimited.
func (i *instance) hostEnter(what string, cost uint64) {
	if !i.metered || i.ctx == nil {
		return
	}
	if !i.fuel.Charge(cost) {
		i.stopGuest(KindCPUTime, fmt.Errorf("%s in host function[%s]", i.exhaustedMsg(), what))
	}
	if i.hostWork += cost; i.hostWork >= hostClockEvery {
		i.hostWork = 0
		i.checkClock(what)
	}
}

// checkClock starts the backstop's deadline at its first call in a call, and
// stops the guest when a later call finds it passed.
func (i *instance) checkClock(what string) {
	now := time.Now()
	if i.hostDeadline.IsZero() {
		i.hostDeadline = now.Add(i.backstop)
		if dl, ok := i.ctx.Deadline(); ok && dl.Before(i.hostDeadline) {
			i.hostDeadline = dl
		}
	}
	if now.After(i.hostDeadline) {
		i.stopGuest(KindCPUTime, fmt.Errorf("call ran past its wall-clock deadline (%s) in host function[%s]", i.backstop, what))
	}
}

// exhaustedMsg says which budget ran out.
func (i *instance) exhaustedMsg() string {
	return fmt.Sprintf("instruction budget of %d exhausted", i.budget)
}

// sleep is the real-sleep hook of a guest with the Nanotime grant: the sleep
// is cut at the call's deadline, and in metered mode a sleep that reaches the
// deadline stops the guest (no timer would).
func (i *instance) sleep(ns int64) {
	if i.metered && i.ctx != nil {
		// poll_oneoff billed the call (wasiPollOneoff).
		i.checkClock("poll_oneoff") // a sleep always reads the clock
		if r := time.Until(i.hostDeadline); time.Duration(ns) > r {
			if r > 0 {
				time.Sleep(r)
			}
			i.stopGuest(KindCPUTime, fmt.Errorf("call ran past its wall-clock deadline (%s) sleeping", i.backstop))
		}
	}
	if ns = i.sleepBound(ns); ns > 0 {
		time.Sleep(time.Duration(ns))
	}
}

// sleepBound shortens a granted real sleep so that it ends just after the call
// deadline in deadline mode: the guest is then stopped at its next loop or call.
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

// Done implements context.Context. It is nil (never done) except in deadline mode.
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
