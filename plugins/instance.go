package plugins

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/imhook/imhook/plugins/internal/preinit"
	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/sdk/abi"
)

// stderrLimit bounds what is kept of a guest's stderr per call.
const stderrLimit = 4 << 10

// instance is one instantiated module with everything a call needs prepared:
// the function handles, a reused call stack, the guest's input buffer address.
// An instance runs one call at a time; the pool hands it to one caller.
type instance struct {
	// callStart is when the running call entered the guest (unix ns), 0
	// between calls; read by other goroutines for the in-flight stats.
	callStart atomic.Int64

	p      *Plugin
	mod    api.Module
	mem    api.Memory
	handle api.Function
	buffer api.Function
	// inputFormats is the optional abi.FuncInputFormats export, nil when absent.
	inputFormats api.Function
	stack        []uint64

	bufPtr, bufCap uint32 // guest input buffer, from FuncBuffer
	calls          int
	dead           bool      // the module was or is being closed; never reuse
	idleSince      time.Time // when it last went back to the pool's idle stack

	stderr   limitedBuffer
	clock    fakeClock
	rand     fakeRand
	initUsed uint64 // instructions _initialize used (metered)
	// initializing is set while the _initialize of the instance the
	// plugin's snapshot is taken from runs; initTaint says why a copy of
	// it would be wrong, if so (preinit.go).
	initializing bool
	initTaint    string

	// Per-call state read by the host functions.
	command  string
	logBytes int // lines count at least limits.MinLogLineBytes
	logLines int
	capture  bool
	logs     []LogLine
	fail     Kind // set by a host function before it panics
	// The results-and-errors convention of fallible host functions
	// (hostresult.go): the last failure's message, and output kept
	// because it did not fit the guest's buffer.
	lastErr string
	kept    []byte
	// Out-calls of this call (hosthttp.go).
	outCalls int
	outTime  time.Duration
	// waitCancel ends the wait of a host function (an out-call) when the
	// instance is aborted (abort, from any goroutine); nil when none waits.
	waitCancel atomic.Pointer[context.CancelFunc]
	kvOps      int // state operations this call (hostkv.go)

	// CPU limit, see cpu.go. Instruction budget (metered modules):
	metered      bool
	fuel         wasmrewrite.Budget
	budget       uint64          // set for the current call
	ctx          context.Context // the caller's, during a call
	backstop     time.Duration   // wall-clock allowance from the first clock check
	hostDeadline time.Time       // zero until the first clock check
	hostWork     uint64          // host work billed since the last clock check
	// callStack is set once per instance: a call that returns gives back
	// what it took (stack.go).
	callStack wasmrewrite.Stack
	// Slices of the budget (cpu.go, refill):
	now time.Time // the last clock check's reading, for the yield hook
	// sliceStart and sliceBase are when the current slice began and the
	// instructions used by then (sizeSlice); sliceStart is zero when not
	// known (the first slice of _initialize).
	sliceStart time.Time
	sliceBase  uint64
	stop       atomic.Pointer[stopReason] // set by abort, from any goroutine
	// The fair CPU share (fair.go, Engine.yieldCPU): holdsCPU is set while
	// the running call holds a CPU slot, which Plugin.call then releases;
	// cpuSince is when its guest time was last accounted (the slot taken,
	// or the last yield).
	holdsCPU bool
	cpuSince time.Time
	// Deadline mode (WithCloseOnContextDone):
	timer    *time.Timer
	done     chan struct{}
	expired  atomic.Bool
	deadline time.Time
}

// LogLine is one line a guest logged during a call, as captured with WithLogCapture.
type LogLine struct {
	Level   slog.Level
	Message string
}

// newInstance instantiates the plugin's module and runs its _initialize under
// the init budget (InitInstructions, metered) or InitTimeout (deadline mode),
// and prepares it for calls.
//
// slot is the CPU slot the caller holds for the instantiation (pool.create),
// or nil: a metered _initialize then yields it at its refuels like a call
// (Engine.yieldCPU), and slot says afterwards whether it is still held and
// since when its guest time is unaccounted.
func (p *Plugin) newInstance(slot *cpuHold) (*instance, error) {
	i := &instance{p: p, stack: make([]uint64, 2)}
	i.armInit(p.lim)
	mod, err := p.rt.rt.InstantiateModule(i, p.compiled.cm, p.moduleConfig(i))
	expired := i.disarm()
	i.deadline = time.Time{}
	if err == nil && expired {
		_ = mod.Close(context.Background())
		err = context.DeadlineExceeded
	}
	if err != nil {
		kind := i.classify(err)
		return nil, &CallError{Kind: kind, Tenant: p.t.id, Plugin: p.name, Err: fmt.Errorf("instantiate: %w", err), Stderr: i.stderr.String()}
	}
	if p.mode == CPULimitInstructions {
		if err := i.initMetered(mod, slot); err != nil {
			_ = mod.Close(context.Background())
			return nil, err
		}
	}
	i.mod = mod
	i.mem = mod.Memory()
	i.handle = mod.ExportedFunction(abi.FuncHandle)
	i.buffer = mod.ExportedFunction(abi.FuncBuffer)
	i.inputFormats = mod.ExportedFunction(abi.FuncInputFormats) // optional: nil when absent
	return i, nil
}

// moduleConfig is the sandbox of one instance: anonymous (nothing can link to
// it), no filesystem, environment, arguments or stdin; stdout discarded; stderr
// kept, bounded; clocks and randomness as granted. wazero's WASI functions
// read these; wasiFuncs bills every call before it reaches them.
func (p *Plugin) moduleConfig(i *instance) wazero.ModuleConfig {
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStdout(io.Discard).
		WithStderr(&i.stderr)
	if p.hasInit && p.mode != CPULimitInstructions {
		cfg = cfg.WithStartFunctions(abi.FuncInitialize)
	} else {
		// A metered module's _initialize is run by initMetered, after the
		// budget is set, so that exhaustion there is recognised.
		cfg = cfg.WithStartFunctions()
	}
	// Without the grants: wazero's fake wall clock (2022-01-01, 1 ms more
	// per reading) and its deterministic random source (seeded 42).
	if p.grants.Walltime {
		cfg = cfg.WithSysWalltime()
	} else {
		cfg = cfg.WithWalltime(i.fakeWalltime, sys.ClockResolution(time.Microsecond))
	}
	if p.grants.Nanotime {
		cfg = cfg.WithSysNanotime()
	} else {
		cfg = cfg.WithNanotime(i.fakeNanotime, 1)
	}
	if p.grants.Random {
		cfg = cfg.WithRandSource(rand.Reader)
	} else {
		cfg = cfg.WithRandSource(&i.rand)
	}
	return cfg.WithNanosleep(i.nanosleep)
}

// initMetered creates the instance's Fuel and runs _initialize under
// InitInstructions, with InitTimeout as the host-function backstop.
func (i *instance) initMetered(mod api.Module, slot *cpuHold) error {
	fuel, err := wasmrewrite.NewFuel(mod)
	if err != nil {
		return &CallError{Kind: KindInvalidModule, Tenant: i.p.t.id, Plugin: i.p.name, Err: fmt.Errorf("instantiate: %w", err)}
	}
	i.fuel, i.metered = wasmrewrite.Budget{Fuel: fuel}, true
	if i.callStack, err = wasmrewrite.NewStack(mod); err != nil {
		return &CallError{Kind: KindInvalidModule, Tenant: i.p.t.id, Plugin: i.p.name, Err: fmt.Errorf("instantiate: %w", err)}
	}
	snap := i.p.pre.snap.Load()
	if snap != nil && i.p.hasInit {
		// Already initialised: _initialize ran once, for the plugin's first
		// instance, and was billed there (preinit.go).
		if err := i.startFromSnapshot(mod, snap); err != nil {
			return &CallError{Kind: KindInvalidModule, Tenant: i.p.t.id, Plugin: i.p.name, Err: fmt.Errorf("instantiate from the pre-initialised state: %w", err)}
		}
	}
	i.callStack.Set(stackBudget(i.p.lim))
	if !i.p.hasInit || snap != nil {
		return nil
	}
	var before []byte
	if i.initializing = i.p.wantSnapshot(); i.initializing {
		before = preinit.Memory(mod)
	}
	i.begin(context.Background(), i.p.lim.InitInstructions, i.p.lim.InitTimeout)
	i.mem = mod.Memory()
	if slot != nil {
		i.holdsCPU, i.cpuSince = slot.held, slot.since
	}
	_, err = mod.ExportedFunction(abi.FuncInitialize).Call(i)
	if slot != nil {
		slot.held, slot.since = i.holdsCPU, i.cpuSince
		i.holdsCPU = false
	}
	i.initUsed = i.used()
	i.ctx = nil
	if err != nil {
		if i.initializing {
			i.p.pre.claimed.Store(false) // the next instance tries again
		}
		i.initializing = false
		kind, err := i.failure(err)
		return &CallError{Kind: kind, Tenant: i.p.t.id, Plugin: i.p.name, Err: fmt.Errorf("instantiate: %s: %w", abi.FuncInitialize, err), Stderr: i.stderr.String()}
	}
	if i.initializing {
		i.initializing = false
		i.p.takeSnapshot(i, mod, before)
	}
	return nil
}

// close frees the module. It is safe to call more than once.
func (i *instance) close() {
	i.dead = true
	if i.timer != nil {
		i.timer.Stop()
	}
	if i.mod != nil {
		_ = i.mod.Close(context.Background())
	}
}

// call runs one callback: copies command and body into the guest's buffer,
// calls FuncHandle and appends the reply to dst.
func (i *instance) call(ctx context.Context, command string, body []byte, wire bool, dst []byte, info *CallInfo) ([]byte, Kind, error) {
	i.calls++
	i.command = command
	i.logBytes, i.logLines = 0, 0
	i.fail = 0
	i.lastErr, i.kept, i.kvOps = "", nil, 0
	i.outCalls, i.outTime = 0, 0
	i.capture = ctx.Value(captureKey{}) != nil
	i.logs = nil
	i.stderr.Reset()

	i.begin(ctx, i.p.lim.MaxInstructions, i.p.lim.CallTimeout)
	defer i.end(info)

	n := uint32(len(command) + len(body))
	if n > i.bufCap {
		if kind, err := i.grow(ctx, n); err != nil {
			return nil, kind, err
		}
	}
	if !i.mem.WriteString(i.bufPtr, command) || !i.mem.Write(i.bufPtr+uint32(len(command)), body) {
		return nil, KindBadReply, fmt.Errorf("input buffer at %#x (%d bytes) is outside guest memory", i.bufPtr, i.bufCap)
	}
	i.stack[0] = uint64(len(command))
	if wire {
		i.stack[0] |= uint64(abi.WireFlag)
	}
	i.stack[1] = uint64(len(body))
	err := i.invoke(ctx, i.handle)
	info.MemoryPages = i.mem.Size() >> 16
	if i.capture {
		info.Logs = i.logs
	}
	if err != nil {
		kind, err := i.failure(err)
		return nil, kind, err
	}
	res := abi.Unpack(i.stack[0])
	if res.Empty() || res.Len == 0 {
		return nil, 0, nil
	}
	if int(res.Len) > i.p.lim.MaxOutputBytes {
		what := "reply"
		if res.Error {
			what = "error message"
		}
		return nil, KindOutputSize, fmt.Errorf("%s of %d bytes > max_output_bytes[%d]", what, res.Len, i.p.lim.MaxOutputBytes)
	}
	b, ok := i.mem.Read(res.Ptr, res.Len)
	if !ok {
		return nil, KindBadReply, fmt.Errorf("reply [%#x, +%d) is outside guest memory (%d bytes)", res.Ptr, res.Len, i.mem.Size())
	}
	if res.Error {
		return nil, KindGuestError, errors.New(string(i.p.t.state.Load().redact(b)))
	}
	return append(dst, b...), 0, nil
}

// grow asks the guest for an input buffer of at least n bytes.
func (i *instance) grow(ctx context.Context, n uint32) (Kind, error) {
	i.stack[0] = uint64(n)
	if err := i.invoke(ctx, i.buffer); err != nil {
		kind, err := i.failure(err)
		return kind, fmt.Errorf("%s(%d): %w", abi.FuncBuffer, n, err)
	}
	res := abi.Unpack(i.stack[0])
	switch {
	case res.Empty():
		return KindMemory, fmt.Errorf("%s(%d) returned 0: the guest could not allocate its input buffer", abi.FuncBuffer, n)
	case res.Error || res.Len < n:
		return KindBadReply, fmt.Errorf("%s(%d) returned %#x: want a buffer of at least %d bytes", abi.FuncBuffer, n, i.stack[0], n)
	case uint64(res.Ptr)+uint64(res.Len) > uint64(i.mem.Size()):
		return KindBadReply, fmt.Errorf("%s(%d) returned [%#x, +%d), outside guest memory (%d bytes)", abi.FuncBuffer, n, res.Ptr, res.Len, i.mem.Size())
	}
	i.bufPtr, i.bufCap = res.Ptr, res.Len
	return 0, nil
}

// callU64 calls a guest function without parameters and returns its result.
func (i *instance) callU64(ctx context.Context, name string) (uint64, error) {
	fn := i.mod.ExportedFunction(name)
	if fn == nil {
		return 0, fmt.Errorf("guest doesn't export func[%s]", name)
	}
	if err := i.invoke(ctx, fn); err != nil {
		return 0, err
	}
	return i.stack[0], nil
}

// end records what the call used and forgets the caller's context. An
// aborted instance is not reused (cpu.go, abort).
func (i *instance) end(info *CallInfo) {
	info.Instructions = i.used()
	info.OutCalls, info.OutCallTime = i.outCalls, i.outTime
	i.ctx = nil
	if i.stop.Load() != nil {
		i.dead = true
	}
}

// failure classifies a failed guest call and, when the instruction budget ran
// out in guest code, says so in the error.
func (i *instance) failure(err error) (Kind, error) {
	kind := i.classify(err)
	if r := i.stop.Load(); r != nil && i.fail == 0 && i.expired.Load() {
		return kind, fmt.Errorf("%w (%v)", r.err, err)
	}
	switch {
	case i.fail != 0 || !i.metered:
	case i.callStack.Exhausted(err):
		err = fmt.Errorf("call stack exhausted: calls nested deeper than the stack budget of %d KiB, a quarter of memory_pages: %w", stackBudget(i.p.lim)>>10, err)
	case kind == KindCPUTime && i.fuel.Exhausted(err):
		err = fmt.Errorf("%s: %w", i.exhaustedMsg(), err)
	}
	return kind, err
}

// classify turns a failed guest call into a Kind. Host functions record why
// they stopped the guest; a negative fuel after a failed call means the
// instruction budget ran out; deadlines show as wazero exit codes or as our timer;
// memory exhaustion is recognised by the Go runtime's message on stderr or by
// memory at (or within 1/16 of) the limit when the guest died.
func (i *instance) classify(err error) Kind {
	if i.fail != 0 {
		return i.fail
	}
	if r := i.stop.Load(); r != nil && i.expired.Load() {
		return r.kind // deadline mode: the abort fired the timer
	}
	if errors.Is(err, errDeadlineBeforeCall) {
		return KindCPUTime
	}
	if i.metered && i.callStack.Exhausted(err) {
		// The call stack is memory too, bounded by a share of the cap.
		return KindMemory
	}
	if i.metered && i.fuel.Exhausted(err) {
		return KindCPUTime
	}
	if i.expired.Load() || errors.Is(err, context.DeadlineExceeded) {
		return KindCPUTime
	}
	var ee *sys.ExitError
	if errors.As(err, &ee) && (ee.ExitCode() == sys.ExitCodeDeadlineExceeded || ee.ExitCode() == sys.ExitCodeContextCanceled) {
		return KindCPUTime
	}
	if strings.Contains(i.stderr.String(), "out of memory") {
		return KindMemory
	}
	if i.mem != nil {
		limit := i.p.lim.MemoryPages
		if pages := i.mem.Size() >> 16; pages >= limit-limit/16 {
			return KindMemory
		}
	}
	return KindTrap
}

// stopGuest records why a host function stops the guest, then panics: wazero
// turns the panic into an error of the current guest call.
func (i *instance) stopGuest(kind Kind, err error) {
	i.fail = kind
	panic(err)
}

// limitedBuffer keeps the first stderrLimit bytes written to it.
type limitedBuffer struct{ b []byte }

// Write implements io.Writer; it never fails so the guest never sees an error.
// fd_write billed the bytes (wasiFdWrite).
func (w *limitedBuffer) Write(p []byte) (int, error) {
	if room := stderrLimit - len(w.b); room > 0 {
		if len(p) > room {
			w.b = append(w.b, p[:room]...)
		} else {
			w.b = append(w.b, p...)
		}
	}
	return len(p), nil
}

// Reset empties the buffer, keeping its storage.
func (w *limitedBuffer) Reset() { w.b = w.b[:0] }

// String returns the bytes kept.
func (w *limitedBuffer) String() string { return string(w.b) }

// nanosleep is the guest's sleep (poll_oneoff on a clock): real and cut at
// the call's deadline with the Nanotime grant (sleep, cpu.go), else it moves
// the fake monotonic clock forward at once.
func (i *instance) nanosleep(ns int64) {
	if i.p.grants.Nanotime {
		i.sleep(ns)
		return
	}
	if ns > 0 {
		i.clock.now += ns
	}
}

// fakeNanotime is the monotonic clock of a guest without the Nanotime grant. It
// ticks 1us per reading so that loops waiting for time make progress.
func (i *instance) fakeNanotime() int64 {
	i.clock.now += int64(time.Microsecond)
	return i.clock.now
}

// fakeWalltime is the wall clock of a guest without the Walltime grant, as
// wazero's default: 2022-01-01T00:00:00Z at the first reading, 1 ms more at
// each.
func (i *instance) fakeWalltime() (sec int64, nsec int32) {
	t := fakeEpoch + i.clock.walls*int64(time.Millisecond)
	i.clock.walls++
	return t / 1e9, int32(t % 1e9)
}

// fakeEpoch is 2022-01-01T00:00:00Z in Unix nanoseconds.
const fakeEpoch = 1640995200 * int64(time.Second)

// fakeClock is the clocks of a guest without the Nanotime and Walltime
// grants: the monotonic reading, and how many wall-clock readings it took.
type fakeClock struct{ now, walls int64 }

// cpuHold is a CPU slot held across an instantiation: whether it is still
// held, and since when the guest time run on it is unaccounted.
type cpuHold struct {
	held  bool
	since time.Time
}
