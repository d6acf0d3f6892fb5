package plugins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/plugins/limits"
)

// This file holds the whole CPU limit. A Plugin runs in one of three modes
// (CPULimit, reported in ModuleInfo):
//
//   - instructions (the default): the module was rewritten at load by
//     wasmrewrite.Meter to carry an instruction budget ("fuel"). The host
//     hands the guest its budget in slices of about sliceTime (at most
//     refuelSlice instructions, sizeSlice); at the end of each the guest
//     calls the host (refuel), which banks the
//     slice, stops the guest when the whole budget is spent, when the call's
//     deadline has passed or when another goroutine aborted the instance,
//     and lets the engine's yield hook run (the fair CPU share). Nothing runs
//     beside the call: no goroutine, no timer. Host functions bill their own
//     work to the same budget and enforce the same deadline (hostEnter).
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

// refuelSlice is at most how many instructions a metered guest runs between
// two returns to the host (refuel): about 0.1-0.2 ms at the 6-9 thousand
// million instructions per second a Go guest runs here. Compiled guest code is not
// preempted by Go's scheduler, so this is how long a busy guest can keep its
// thread (and a CPU slot, and a GC stop-the-world waiting) before the host
// sees a deadline, an abort or a waiting tenant. A refuel costs one host
// call and a clock reading, 0.2-0.5 us: at this size under 0.5% of the
// guest's time (docs/metering.md, "Slices", has the measurements). Smaller
// slices buy a shorter hold at a cost growing as 1/slice; larger ones let a
// busy tenant hold a core for longer. It changes no count: the same call
// uses the same instructions whatever the slice.
const refuelSlice = 1_000_000

// sliceTime is how long a slice should last. A million instructions of a
// loop take 0.15 ms here, of a call-heavy guest 0.22 ms (fib: every call
// pushes a frame), and a tenant waiting for the slot waits for what is left
// of the current slice: so each slice is sized from the speed of the one
// before (sizeSlice), between minSlice and refuelSlice instructions.
// Engine.sliceTime holds it; tests that count refills set it to zero, which
// keeps every slice at refuelSlice.
const sliceTime = 100 * time.Microsecond

// minSlice bounds how small sizeSlice makes a slice: a slice that measured
// slow because the kernel took the core away is followed by one of at least
// this many instructions (5 us of a loop), which measures again.
const minSlice = refuelSlice / 32

// expire is the timer callback: it makes the instance's context done, and
// wazero then closes the module with sys.ExitCodeDeadlineExceeded.
func (i *instance) expire() {
	if i.expired.CompareAndSwap(false, true) { // the deadline, or an abort
		close(i.done)
	}
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

// begin prepares the per-call CPU state: the instruction budget, of which
// the guest gets a first slice, and the wall-clock backstop, which starts at
// the first clock reading (at the first refuel or in a host function, see
// checkClock) so that a call that ends within its first slice and does not
// work the host reads no clock.
func (i *instance) begin(ctx context.Context, budget uint64, backstop time.Duration) {
	i.ctx = ctx
	i.budget = budget
	i.backstop = backstop
	i.hostDeadline = time.Time{}
	i.hostWork = 0
	if i.metered {
		slice := uint64(refuelSlice)
		if i.p.t.e.sliceTime > 0 && i.fuel.Slice() > 0 {
			slice = i.fuel.Slice() // what the instance's last slices measured
		}
		i.fuel.Start(budget, slice)
		i.sliceStart, i.sliceBase = time.Time{}, 0
		if i.holdsCPU {
			i.sliceStart = i.cpuSince
		}
	}
}

// used returns the instructions charged since begin, 0 when not metered.
func (i *instance) used() uint64 {
	if !i.metered {
		return 0
	}
	return i.fuel.Used()
}

// instantiateMeterModule adds wasmrewrite.MeterModule to a runtime of
// metered modules: its one function, refuel, is what a metered guest calls
// when its slice of the budget is spent.
func instantiateMeterModule(ctx context.Context, rt wazero.Runtime) error {
	_, err := rt.NewHostModuleBuilder(wasmrewrite.MeterModule).
		NewFunctionBuilder().WithGoFunction(api.GoFunc(refuel), nil, nil).Export(wasmrewrite.RefuelFunc).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module[%s]: %w", wasmrewrite.MeterModule, err)
	}
	return nil
}

// refuel implements wasmrewrite.RefuelFunc: () -> (), called by a metered
// guest at a function entry or loop header that finds its slice spent.
func refuel(ctx context.Context, _ []uint64) {
	i, _ := ctx.Value(instanceKey{}).(*instance)
	if i == nil {
		panic(errors.New("refuel called outside a guest call")) // cannot happen: calls run with the instance as ctx
	}
	if i.ctx == nil {
		// No call is running: the module's start function, run at
		// instantiation on the budget Meter gave it.
		i.stopGuest(KindCPUTime, fmt.Errorf("start function: instruction budget of %d exhausted", uint64(wasmrewrite.DefaultStartFuel)))
	}
	i.refill("")
}

// refill is the end of a slice: the guest found its fuel negative at a check
// (refuel, what == ""), or a host function's charge overdrew the slice
// (hostEnter, what names it). It banks the slice and gives the guest the
// next one, or stops it (a panic that ends the guest call) when the whole
// budget is spent, the instance was aborted, or the call's wall-clock
// deadline passed; then it runs the engine's yield hook, which may block
// while other tenants use the CPU.
func (i *instance) refill(what string) {
	if !i.fuel.Refill() {
		if what == "" {
			i.stopGuest(KindCPUTime, errors.New(i.exhaustedMsg()))
		}
		i.stopGuest(KindCPUTime, fmt.Errorf("%s in host function[%s]", i.exhaustedMsg(), what))
	}
	i.checkAbort()
	i.hostWork = 0
	i.checkClock(what)
	i.sizeSlice()
	i.sliceStart, i.sliceBase = i.now, i.fuel.Used()
	if y := i.p.t.e.yield; y != nil {
		y(i) // a wait there restarts the slice's clock (resumed)
		i.checkAbort()
	}
}

// sizeSlice sizes the slice refill has just begun, and the ones after it,
// so that it lasts about the engine's sliceTime at the speed the guest ran
// the last one: instructions are not all as fast (a call costs more than
// an add), and the slice is how long a waiting tenant may wait. It changes
// no count (wasmrewrite.Budget.Resize). Time spent waiting for a slot is
// not part of a slice (resumed restarts it).
func (i *instance) sizeSlice() {
	target := i.p.t.e.sliceTime
	if target <= 0 || i.sliceStart.IsZero() {
		return
	}
	ran, did := i.now.Sub(i.sliceStart), i.fuel.Used()-i.sliceBase
	if ran <= 0 || did == 0 {
		return
	}
	next := uint64(float64(did) * float64(target) / float64(ran))
	i.fuel.Resize(min(max(next, minSlice), refuelSlice))
}

// stopReason is why another goroutine aborted an instance.
type stopReason struct {
	kind Kind
	err  error
}

// abort asks the instance's guest to stop, from any goroutine (Plugin.Close,
// a tenant's deletion): a metered guest stops at its next refuel or host
// function, within refuelSlice instructions, and its call fails with kind
// and err; a call that has not entered the guest yet fails so without
// entering it. The first abort wins. It is for an instance that is going
// away: an aborted instance is dropped after its call, never reused (a guest
// stopped in the middle of its work is in no state to serve another call).
// A guest in deadline mode is stopped the way its deadline stops it: its
// timer fires at once, and wazero closes the module at its next loop or
// call. A guest with no CPU limit does not see it.
func (i *instance) abort(kind Kind, err error) {
	if i.stop.CompareAndSwap(nil, &stopReason{kind: kind, err: err}) && i.timer != nil {
		i.timer.Reset(0)
	}
	if cancel := i.waitCancel.Load(); cancel != nil {
		(*cancel)() // a host function waiting (an out-call) ends its wait
	}
}

// checkAbort stops the guest if the instance was aborted.
func (i *instance) checkAbort() {
	if r := i.stop.Load(); r != nil {
		i.stopGuest(r.kind, r.err)
	}
}

// invoke calls fn with i.stack. In deadline mode the call runs under
// CallTimeout, or the caller's deadline when that is earlier.
func (i *instance) invoke(ctx context.Context, fn api.Function) error {
	if r := i.stop.Load(); r != nil {
		i.fail = r.kind
		return r.err
	}
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
	if i.stop.Load() != nil {
		i.timer.Reset(0) // an abort between the check above and Reset(d)
	}
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
// cannot stretch its budget by looping over host calls: a charge that
// overdraws the current slice ends it as refuel would (refill). It stops the
// guest of an aborted instance, and checks the wall-clock backstop once per
// hostClockEvery of host work: the call's deadline (CallTimeout, or the
// caller's ctx deadline when earlier) counted from the first such check.
// A spent budget or a passed deadline stops the guest with KindCPUTime. In
// the other modes it does nothing: the timer covers deadline mode, and none
// is unlimited.
func (i *instance) hostEnter(what string, cost uint64) {
	if !i.metered || i.ctx == nil {
		return
	}
	if !i.fuel.Charge(cost) {
		i.refill(what) // reads the clock
		return
	}
	i.checkAbort()
	if i.hostWork += cost; i.hostWork >= hostClockEvery {
		i.hostWork = 0
		i.checkClock(what)
	}
}

// checkClock starts the backstop's deadline at its first call in a call, and
// stops the guest when a later call finds it passed. what names the host
// function, or is empty at a refuel in guest code. It keeps the reading in
// i.now for the yield hook.
func (i *instance) checkClock(what string) {
	now := time.Now()
	i.now = now
	if i.hostDeadline.IsZero() {
		i.hostDeadline = now.Add(i.backstop)
		if dl, ok := i.ctx.Deadline(); ok && dl.Before(i.hostDeadline) {
			i.hostDeadline = dl
		}
	}
	if now.After(i.hostDeadline) {
		if what == "" {
			i.stopGuest(KindCPUTime, fmt.Errorf("call ran past its wall-clock deadline (%s)", i.backstop))
		}
		i.stopGuest(KindCPUTime, fmt.Errorf("call ran past its wall-clock deadline (%s) in host function[%s]", i.backstop, what))
	}
}

// offCPU runs work that waits rather than computes, for the host function
// what: a round trip to a store, an out-call to the tenant's service. The
// call gives its CPU slot up for the wait, so that a tenant waiting on its
// own service does not hold a core the other tenants need, and takes one
// back, through the fair share like any waiting call, before the guest goes
// on. The wait is bounded by work itself (its own timeout, within the
// call's deadline), so it does not count against the backstop (resumed);
// when no slot comes back within sandbox.max_cpu_wait the guest is stopped
// with KindBusy. Outside a call that holds a slot it just runs work.
func (i *instance) offCPU(what string, work func()) { i.withoutCPU(what, work, false) }

// withoutCPU runs work without the call's CPU slot, and takes one back
// before the guest goes on. The wait for the slot never counts against the
// wall-clock backstop; work counts against it when onClock is set: a
// granted sleep is the guest's own use of its wall-clock time, bounded by
// the backstop alone, where offCPU's work has its own timeout.
func (i *instance) withoutCPU(what string, work func(), onClock bool) {
	if !i.holdsCPU {
		work()
		return
	}
	share, acct := i.p.t.e.cpu, &i.p.t.cpu
	now := time.Now()
	share.release(acct, now.Sub(i.cpuSince), now)
	i.holdsCPU = false
	if !i.hostDeadline.IsZero() && !onClock {
		i.now = now // the wait starts here, for resumed
	}
	work()
	if !i.hostDeadline.IsZero() && onClock {
		i.now = time.Now() // only the wait for the slot moves the backstop
	}
	if _, err := share.acquire(i.ctx, acct); err != nil {
		i.stopGuest(KindBusy, fmt.Errorf("host function[%s] gave its CPU slot up while it waited and got none back in time: %w", what, err))
	}
	i.holdsCPU = true
	i.resumed(time.Now())
}

// resumed is called when a call gets a CPU slot back at now after waiting
// without one since the last clock reading (i.now): a yield to a lighter
// tenant, or a host function's blocking work (offCPU). The wait is not the
// tenant's guest time, so the share's accounting restarts at now; nor is it
// the guest running away, so the wall-clock backstop moves forward by the
// wait, though never past the caller's deadline, which bounds the whole
// call (OpenIM's timeout does not pause).
func (i *instance) resumed(now time.Time) {
	i.cpuSince = now
	if i.metered && i.ctx != nil {
		i.sliceStart, i.sliceBase = now, i.fuel.Used()
	}
	if i.hostDeadline.IsZero() || i.now.IsZero() {
		return
	}
	i.hostDeadline = i.hostDeadline.Add(now.Sub(i.now))
	if dl, ok := i.ctx.Deadline(); ok && dl.Before(i.hostDeadline) {
		i.hostDeadline = dl
	}
	i.now = now
}

// exhaustedMsg says which budget ran out.
func (i *instance) exhaustedMsg() string {
	return fmt.Sprintf("instruction budget of %d exhausted", i.budget)
}

// sleep is the real-sleep hook of a guest with the Nanotime grant: the sleep
// is cut at the call's deadline, and in metered mode a sleep that reaches the
// deadline stops the guest (no timer would). The call gives its CPU slot up
// while it sleeps (withoutCPU).
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
		// A sleeping guest needs no core: the slot goes to whoever waits,
		// and the sleep stays on the call's wall clock.
		i.withoutCPU("poll_oneoff", func() { i.abortableSleep(time.Duration(ns)) }, true)
		i.checkAbort()
	}
}

// abortableSleep sleeps d, or until the instance is aborted (the tenant
// deleted, the version replaced), as an out-call's wait ends.
func (i *instance) abortableSleep(d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	i.waitCancel.Store(&cancel)
	defer i.waitCancel.Store(nil)
	if i.stop.Load() != nil {
		return // aborted before the store above could be seen
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
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
	return i.p.t.e.guestMemory.Value(key)
}

// errDeadlineBeforeCall: the caller's deadline passed before the guest was
// entered; the instance is intact and goes back to the pool.
var errDeadlineBeforeCall = fmt.Errorf("the caller's deadline passed before the guest was entered: %w", context.DeadlineExceeded)

// instanceKey is the context key of the current *instance.
type instanceKey struct{}

// checkMeterImports checks a compiled module's imports from
// wasmrewrite.MeterModule, a name reserved for the refuel import the
// rewriter adds: a metered module imports refuel as () -> (); any other
// module may import nothing from it (an upload that does cannot be metered,
// and falls back to the deadline mode, whose runtime does not provide it).
func checkMeterImports(cm wazero.CompiledModule, mode CPULimit) error {
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasmrewrite.MeterModule {
			continue
		}
		if mode != CPULimitInstructions || name != wasmrewrite.RefuelFunc || len(f.ParamTypes())+len(f.ResultTypes()) != 0 {
			return &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("guest imports func[%s.%s]; module %s is reserved for the instruction budget", mod, name, mod)}
		}
	}
	return nil
}
