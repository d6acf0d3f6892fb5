package plugins

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/sdk/abi"
)

// Plugin is one loaded version of a tenant's plugin module with its pool of
// instances. It is safe for concurrent use; each call runs on its own instance.
//
// # Hot swap
//
// The host keeps the current *Plugin of each (tenant, name) in an atomic
// pointer. To replace it, it loads the new version, stores the new pointer,
// then calls old.Close: calls already running finish on the old version, and
// new calls use the new one. A call that read the old pointer just before the
// swap gets ErrClosed (KindClosed) from old.Call without entering the guest;
// the host retries it on the current pointer, for as long as the pointer it
// called was replaced (a caller descheduled across two swaps sees ErrClosed
// twice). That race is the only way a swap shows to a caller:
//
//	p := cur.Load()
//	reply, info, err := p.Call(ctx, cmd, body, dst)
//	for errors.Is(err, plugins.ErrClosed) && cur.Load() != p {
//		p = cur.Load()
//		reply, info, err = p.Call(ctx, cmd, body, dst)
//	}
type Plugin struct {
	t        *Sandbox
	name     string
	hash     string
	lim      limits.Limits
	grants   limits.Grants
	rt       *sharedRuntime
	compiled *compiledModule
	hasInit  bool
	pre      preinitState // the snapshot its instances start from (preinit.go)
	mode     CPULimit
	pool     *pool
	info     ModuleInfo
	handles  map[string]struct{}

	breaker  breaker
	inFlight atomic.Int64 // calls inside the guest

	closeOnce sync.Once
	closeErr  error
}

// CallInfo describes one call.
type CallInfo struct {
	// Duration is the time from Call's entry to its return, including the wait
	// for an instance.
	Duration time.Duration
	// Logs are the guest's log lines when ctx came from WithLogCapture;
	// otherwise they went to the tenant's logger and Logs is nil.
	Logs []LogLine
	// MemoryPages is the size of the instance's linear memory after the call.
	MemoryPages uint32
	// Instructions is what the call used of its instruction budget
	// (Limits.MaxInstructions), host functions' charges included; 0 unless
	// the plugin's CPULimit is CPULimitInstructions. The same input on the
	// same plugin gives the same count. A call stopped for exhausting the
	// budget reports a little more than the budget (the code run since the
	// last check; docs/metering.md).
	Instructions uint64
	// OutCalls is how many HTTP out-calls the call made (imhook.http),
	// failed ones included; OutCallTime their wall-clock time, a wait the
	// call spent without its CPU slot.
	OutCalls    int
	OutCallTime time.Duration
}

// Name returns the name the plugin was loaded under.
func (p *Plugin) Name() string { return p.name }

// Tenant returns the ID of the tenant whose sandbox loaded the plugin.
func (p *Plugin) Tenant() string { return p.t.id }

// Hash returns the sha256 hex of the module bytes.
func (p *Plugin) Hash() string { return p.hash }

// Limits returns the limits the plugin was loaded with, defaults applied.
func (p *Plugin) Limits() limits.Limits { return p.lim }

// Info returns what Load learnt about the module.
func (p *Plugin) Info() ModuleInfo { return p.info }

// Commands returns the commands the plugin handles (normalised wire names).
// The slice must not be modified.
func (p *Plugin) Commands() []string { return p.info.Commands }

// Handles reports whether the plugin declared command. It does not enter the
// sandbox; a legacy command name matches its current name.
func (p *Plugin) Handles(command string) bool {
	if _, ok := p.handles[command]; ok {
		return true
	}
	if c, ok := p.t.e.commandName(command); ok && c != command {
		_, ok = p.handles[c]
		return ok
	}
	return false
}

// Stats returns a snapshot of the plugin's instance pool.
func (p *Plugin) Stats() PoolStats { return p.pool.stats() }

func (p *Plugin) shortHash() string { return p.hash[:12] }

// Call runs one callback: it hands command and body to an instance and appends
// the guest's JSON reply to dst. A nil reply with a nil error means the guest
// returned 0: answer with the command's neutral reply.
//
// Call waits for a free instance until ctx is done; the guest then runs under
// its CPU limit (ModuleInfo.CPULimit): Limits.MaxInstructions, with
// Limits.CallTimeout (shortened by ctx's deadline) as the wall-clock backstop
// in host functions, or Limits.CallTimeout as a deadline for modules that
// cannot be metered. Use a context derived from the server's lifetime, not a
// request's. On the warm path (an idle instance, metered or no CPU limit) Call
// allocates nothing beyond the growth of dst.
//
// # Errors
//
// Every failure is a *CallError whose Kind says which limit or failure it was;
// errors.Is matches the sentinels (ErrCPUTime, ErrMemoryLimit, ...). The
// instance is dropped after any failure except KindGuestError, KindInputSize,
// KindInstances, KindClosed, and KindCPUTime when ctx's deadline had already
// passed before the guest was entered.
func (p *Plugin) Call(ctx context.Context, command string, body []byte, dst []byte) (reply []byte, info CallInfo, err error) {
	return p.call(ctx, command, body, false, dst)
}

// CallWire is Call for a request the host hands over in the wire format
// (abi.InputWire, docs/abi.md section 8) instead of JSON: only for a module
// whose ModuleInfo.WireInput is true, which every module built with the Go
// SDK is. The host encodes it (sdk/openim's AppendWire); the sandbox only
// flags it to the guest.
func (p *Plugin) CallWire(ctx context.Context, command string, wire []byte, dst []byte) (reply []byte, info CallInfo, err error) {
	return p.call(ctx, command, wire, true, dst)
}

func (p *Plugin) call(ctx context.Context, command string, body []byte, wire bool, dst []byte) (reply []byte, info CallInfo, err error) {
	start := time.Now()
	if n := len(command) + len(body); n > p.lim.MaxInputBytes {
		return nil, info, p.callError(KindInputSize, command, fmt.Errorf("input of %d bytes > max_input_bytes[%d]", n, p.lim.MaxInputBytes), "")
	}
	ok, probe := p.breaker.admit(start)
	if !ok {
		return nil, info, p.callError(KindBreakerOpen, command, p.breakerErr(), "")
	}
	i, err := p.pool.get(ctx, false)
	if err != nil {
		p.breaker.abandon(start)
		info.Duration = time.Since(start)
		var ce *CallError
		if errors.As(err, &ce) {
			ce.Command = command
			return nil, info, ce
		}
		return nil, info, p.callError(KindOf(err), command, nil, "")
	}
	// A CPU slot (fair.go); without a wait the call's start stands for the
	// moment the guest got it, which saves a clock reading.
	share, acct := p.t.e.cpu, &p.t.cpu
	running := start
	if waited, err := share.acquire(ctx, acct); err != nil {
		p.pool.put(i)
		p.breaker.abandon(start)
		info.Duration = time.Since(start)
		return nil, info, p.callError(KindBusy, command, err, "")
	} else if waited {
		running = time.Now()
	}
	if !probe && !p.breaker.closed() {
		// The breaker opened while this call waited for its instance or slot.
		share.release(acct, 0, time.Time{})
		p.pool.put(i)
		info.Duration = time.Since(start)
		return nil, info, p.callError(KindBreakerOpen, command, p.breakerErr(), "")
	}
	p.inFlight.Add(1)
	i.holdsCPU, i.cpuSince = true, running
	i.callStart.Store(running.UnixNano())
	reply, kind, err := i.call(ctx, command, body, wire, dst, &info)
	end := time.Now()
	i.callStart.Store(0)
	p.inFlight.Add(-1)
	if i.holdsCPU { // the yield hook may have lost it (KindBusy)
		i.holdsCPU = false
		share.release(acct, end.Sub(i.cpuSince), end)
	}
	info.Duration = end.Sub(start)
	if errors.Is(err, errDeadlineBeforeCall) {
		p.breaker.abandon(end) // the caller's deadline, not the plugin
	} else if opened, pause := p.breaker.record(kind, end); opened {
		p.t.state.Load().logger.Warn("plugin paused: its calls keep failing; they get the failure policy without entering it until a probe call succeeds",
			"tenant", p.t.id, "plugin", p.name, "plugin_version", p.shortHash(),
			"failures_in_a_row", breakerThreshold, "last_failure", kind.String(), "pause", pause)
	}
	if err != nil {
		stderr := ""
		if kind != KindGuestError && !errors.Is(err, errDeadlineBeforeCall) {
			stderr = string(p.t.state.Load().redact(i.stderr.b)) // no secret the guest read
			i.dead = true
		}
		p.pool.put(i)
		return nil, info, p.callError(kind, command, err, stderr)
	}
	p.pool.put(i)
	return reply, info, nil
}

// breakerErr says why an open breaker refused a call.
func (p *Plugin) breakerErr() error {
	s := p.breaker.stats()
	return fmt.Errorf("the plugin's calls kept failing (last: %s); it is not entered until %s, then one probe call tests it",
		s.LastFailure, s.Until.Format(time.RFC3339Nano))
}

// Breaker returns the state of the plugin's crash-loop breaker.
func (p *Plugin) Breaker() BreakerStats { return p.breaker.stats() }

// InFlight returns the calls running in the plugin's guest now and when
// the oldest of them entered it (zero when none).
func (p *Plugin) InFlight() (n int, oldest time.Time) {
	return int(p.inFlight.Load()), p.pool.oldestCall()
}

func (p *Plugin) callError(kind Kind, command string, err error, stderr string) *CallError {
	return &CallError{Kind: kind, Tenant: p.t.id, Plugin: p.name, Command: command, Err: err, Stderr: stderr}
}

// Close is for a version that was replaced, or removed: it stops new calls
// (they get ErrClosed), waits for the calls in flight (up to ctx), then frees
// the instances and the compiled module. It returns ctx's error if calls were
// still running when ctx ended; those are aborted then: a metered guest stops
// at its next refuel or host function (within a slice of its budget), a call
// still queued for an instance does not enter the guest, and each fails with
// KindClosed, "the version was replaced". Their instances are freed as they
// return (a guest in deadline mode runs on until its CallTimeout).
func (p *Plugin) Close(ctx context.Context) error {
	p.t.mu.Lock()
	delete(p.t.plugins, p)
	p.t.mu.Unlock()
	return p.shutdown(ctx, errVersionReplaced)
}

// Why the calls of a closed plugin that did not end in time, or of a deleted
// tenant, were aborted (KindClosed).
var (
	errVersionReplaced = errors.New("the version was replaced")
	errTenantDeleted   = errors.New("the tenant was deleted")
	errEngineClosed    = errors.New("the engine was closed")
)

// shutdown closes the plugin; the calls still in flight when ctx ends are
// aborted with KindClosed and reason.
func (p *Plugin) shutdown(ctx context.Context, reason error) error {
	p.closeOnce.Do(func() {
		p.closeErr = p.pool.close(ctx)
		if p.closeErr == nil {
			p.t.e.release(p.rt, p.hash)
			return
		}
		p.pool.abort(KindClosed, reason)
		// Release the module once the stragglers are gone.
		go func() {
			<-p.pool.drained
			p.t.e.release(p.rt, p.hash)
		}()
	})
	return p.closeErr
}

// warm creates the first instance and reads the module's ABI version and
// command list from it.
func (p *Plugin) warm(ctx context.Context) (ModuleInfo, error) {
	i, err := p.pool.get(ctx, true)
	if err != nil {
		return ModuleInfo{}, err
	}
	info, err := p.readMeta(ctx, i)
	if err != nil {
		i.dead = true
	}
	p.pool.put(i)
	return info, err
}

func (p *Plugin) readMeta(ctx context.Context, i *instance) (ModuleInfo, error) {
	var ci CallInfo
	i.begin(ctx, p.lim.MaxInstructions, p.lim.CallTimeout)
	defer i.end(&ci)
	v, err := i.callU64(ctx, abi.FuncABIVersion)
	if err != nil {
		kind, err := i.failure(err)
		return ModuleInfo{}, &CallError{Kind: kind, Err: fmt.Errorf("%s: %w", abi.FuncABIVersion, err), Stderr: i.stderr.String()}
	}
	if got := uint32(v); got != abi.Version {
		return ModuleInfo{}, fmt.Errorf("%s returned %d, this host supports abi version %d", abi.FuncABIVersion, got, abi.Version)
	}
	v, err = i.callU64(ctx, abi.FuncCommands)
	if err != nil {
		kind, err := i.failure(err)
		return ModuleInfo{}, &CallError{Kind: kind, Err: fmt.Errorf("%s: %w", abi.FuncCommands, err), Stderr: i.stderr.String()}
	}
	res := abi.Unpack(v)
	b, ok := i.mem.Read(res.Ptr, res.Len)
	if !ok || res.Error {
		return ModuleInfo{}, fmt.Errorf("%s returned %#x: want a pointer to the comma-separated command list inside guest memory", abi.FuncCommands, v)
	}
	cmds, err := parseCommands(string(b), p.t.e.commandName)
	if err != nil {
		return ModuleInfo{}, err
	}
	info := ModuleInfo{ABIVersion: abi.Version, Commands: cmds, InitInstructions: i.initUsed}
	if i.inputFormats != nil {
		v, err = i.callU64(ctx, abi.FuncInputFormats)
		if err != nil {
			kind, err := i.failure(err)
			return ModuleInfo{}, &CallError{Kind: kind, Err: fmt.Errorf("%s: %w", abi.FuncInputFormats, err), Stderr: i.stderr.String()}
		}
		// Bits this host does not know are formats of later hosts: ignored.
		info.WireInput = uint32(v)&abi.InputWire != 0
	}
	return info, nil
}

// parseCommands splits, trims and names (EngineOptions.Commands) the
// FuncCommands list.
func parseCommands(list string, name func(string) (string, bool)) ([]string, error) {
	var cmds []string
	seen := map[string]bool{}
	for _, c := range strings.Split(list, string(abi.CommandSeparator)) {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		n, ok := name(c)
		if !ok {
			return nil, fmt.Errorf("%s lists command[%s], which is not a callback command this host serves", abi.FuncCommands, c)
		}
		if !seen[n] {
			seen[n] = true
			cmds = append(cmds, n)
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("%s returned no command: the module would never be called", abi.FuncCommands)
	}
	return cmds, nil
}

// signature is a wasm function type.
type signature struct {
	params, results []api.ValueType
}

func (s signature) String() string {
	str := func(ts []api.ValueType) string {
		names := make([]string, len(ts))
		for k, t := range ts {
			names[k] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(names, ",") + ")"
	}
	return str(s.params) + "->" + str(s.results)
}

func (s signature) equal(params, results []api.ValueType) bool {
	return string(s.params) == string(params) && string(s.results) == string(results)
}

// guestExports lists the functions a module must export, with their types.
var guestExports = []struct {
	name string
	sig  signature
}{
	{abi.FuncABIVersion, signature{nil, []api.ValueType{api.ValueTypeI32}}},
	{abi.FuncCommands, signature{nil, []api.ValueType{api.ValueTypeI64}}},
	{abi.FuncBuffer, signature{[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}}},
	{abi.FuncHandle, signature{[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}}},
}

// inputFormatsSig is the type of the optional export abi.FuncInputFormats.
var inputFormatsSig = signature{nil, []api.ValueType{api.ValueTypeI32}}

// checkModule checks a compiled module's exports and imports against the ABI
// and reports whether it exports _initialize.
func checkModule(cm wazero.CompiledModule) (hasInit bool, err error) {
	exports := cm.ExportedFunctions()
	for _, want := range guestExports {
		def, ok := exports[want.name]
		if !ok {
			return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("guest doesn't export func[%s] (want %s)", want.name, want.sig)}
		}
		if !want.sig.equal(def.ParamTypes(), def.ResultTypes()) {
			got := signature{def.ParamTypes(), def.ResultTypes()}
			return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("export func[%s] has signature %s, want %s", want.name, got, want.sig)}
		}
	}
	if def, ok := exports[abi.FuncInputFormats]; ok && !inputFormatsSig.equal(def.ParamTypes(), def.ResultTypes()) {
		got := signature{def.ParamTypes(), def.ResultTypes()}
		return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("export func[%s] has signature %s, want %s", abi.FuncInputFormats, got, inputFormatsSig)}
	}
	if def, ok := exports[abi.FuncInitialize]; ok {
		if len(def.ParamTypes()) != 0 || len(def.ResultTypes()) != 0 {
			return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("export func[%s] has signature %s, want ()->()", abi.FuncInitialize, signature{def.ParamTypes(), def.ResultTypes()})}
		}
		hasInit = true
	}
	if _, ok := cm.ExportedMemories()[abi.Memory]; !ok {
		return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("guest doesn't export memory[%s]", abi.Memory)}
	}
	if len(cm.ImportedMemories()) > 0 {
		return false, &LoadError{Kind: KindInvalidModule, Err: errors.New("guest imports a memory: it must define and export its own")}
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case abi.HostModule:
			if err := checkHostImport(name, f.ParamTypes(), f.ResultTypes()); err != nil {
				return false, &LoadError{Kind: KindInvalidModule, Err: err}
			}
		case wasiModule:
			if err := checkWASIImport(name, f.ParamTypes(), f.ResultTypes()); err != nil {
				return false, &LoadError{Kind: KindInvalidModule, Err: err}
			}
		case wasmrewrite.MeterModule:
			// Added by the rewriter; checkMeterImports (cpu.go) checks it.
		default:
			return false, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("guest imports func[%s.%s]; only %s.* and %s.* are provided", mod, name, abi.HostModule, wasiModule)}
		}
	}
	return hasInit, nil
}
