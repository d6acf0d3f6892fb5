package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// SandboxOptions is what a tenant's plugins run with.
type SandboxOptions struct {
	// ID names the tenant in errors and log lines.
	ID string
	// Limits bound each plugin; zero fields take limits.Default().
	Limits limits.Limits
	// Grants are the capabilities beyond the ABI; the zero value grants none.
	Grants limits.Grants
	// CPULimit forces how runaway calls are stopped. Empty (the default)
	// meters every module the rewriter supports and gives the others a
	// deadline; CPULimitDeadline gives every module a deadline;
	// CPULimitNone disables every CPU limit, instruction budget included:
	// only for benchmarks and trusted code, because a guest loop then runs
	// forever.
	CPULimit CPULimit
	// Config holds the values a guest reads with the config host function.
	Config map[string]string
	// Logger receives the guests' log lines, with attributes tenant, plugin,
	// plugin_version and command. Nil uses the engine's logger.
	Logger *slog.Logger
	// HTTP sends the tenant's out-calls (grant "http", hosthttp.go); nil
	// fails them with abi.StatusUnavailable (dry runs).
	HTTP HTTPClient
	// EgressAllow lists the destinations out-calls may reach (grammar:
	// egress.ParsePattern); empty allows none. Patterns that do not parse
	// allow nothing (the registry validates them).
	EgressAllow []string
	// Secrets are the tenant's secrets: read by imhook.secret, substituted
	// for "{{secret:NAME}}" in out-call headers, never logged.
	Secrets map[string]string
	// KV is the tenant's key-value state, bound to the tenant by the host,
	// for the kv_* host functions (grant kv). Nil: they answer unavailable.
	KV KV
}

// Sandbox groups the plugins of one tenant in one wazero runtime. It is safe
// for concurrent use.
type Sandbox struct {
	e     *Engine
	id    string
	state atomic.Pointer[tenantState]

	cpu tenantCPU // the tenant's account with the engine's CPU share

	outInFlight atomic.Int64 // out-calls in flight (max_out_concurrency)

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// tenantState is an immutable snapshot of SandboxOptions.
type tenantState struct {
	limits limits.Limits // defaults applied
	grants limits.Grants
	cpu    CPULimit
	config map[string]string
	logger *slog.Logger
	// Out-calls (hosthttp.go):
	http    HTTPClient
	egress  egress.Allow
	secrets map[string]string
	kv      KV
}

// runtimeKey holds the settings fixed when a wazero runtime is created: the
// memory cap, and the CPU limit mode (only deadline mode compiles in
// WithCloseOnContextDone; metered and plain modules are kept apart so that a
// hash names one compiled form per runtime).
type runtimeKey struct {
	memoryPages uint32
	mode        CPULimit
}

// sharedRuntime is one wazero runtime of the engine, shared by every tenant
// whose plugins run with its settings, and the modules compiled in it, each
// compiled once per content hash (RATIONALE.md, "Why one wazero Runtime per
// set of runtime settings"). Its fields are guarded by Engine.rtMu.
type sharedRuntime struct {
	key      runtimeKey
	rt       wazero.Runtime
	refs     int // plugins using it, and loads under way
	compiled map[string]*compiledModule
}

// compiledModule is a module compiled in one runtime, shared by every plugin
// of every tenant that loaded the same bytes with the same runtime settings:
// wazero v1.12 instantiates a CompiledModule only in the runtime that
// compiled it, and the decoded module it keeps (code and data, 4-5 MiB for a
// Go guest) would otherwise be held once per tenant.
type compiledModule struct {
	cm          wazero.CompiledModule
	refs        int
	ready       chan struct{} // closed when cm or err is set
	err         error
	hasInit     bool
	compileTime time.Duration

	// infos caches what warming the first instance learnt (readMeta), by
	// the limits and grants it ran under: a later load with the same ones
	// starts its pool empty instead of instantiating to read it again.
	// Guarded by Engine.rtMu.
	infos map[metaKey]ModuleInfo
}

// metaKey is what an instance's start-up may depend on besides the bytes.
type metaKey struct {
	lim    limits.Limits
	grants limits.Grants
}

// ID returns the tenant's ID.
func (t *Sandbox) ID() string { return t.id }

// Update replaces the tenant's settings.
//
// # Notes
//
//   - Config and Logger apply to the next guest call of every plugin.
//   - Limits and Grants apply to plugins loaded afterwards: a Plugin keeps
//     what it was loaded with, so that its pool and runtime stay consistent.
//     To apply them, load the plugin again and swap it in.
//   - Plugins run in the engine's runtime for their memory cap and CPU
//     limit mode, shared with the other tenants that have the same ones
//     (instances are anonymous, so no module can link to another).
func (t *Sandbox) Update(cfg SandboxOptions) {
	t.state.Store(t.e.newTenantState(cfg))
}

// Load compiles (once per content hash), validates and warms one instance of a
// plugin module. The plugin serves calls as soon as Load returns; the tenant's
// other plugins, including an older version of the same name, are untouched.
//
// # Errors
//
// A *LoadError when the module is refused (see Engine.Inspect), or an error
// when the tenant is closed.
func (t *Sandbox) Load(ctx context.Context, name string, wasm []byte) (*Plugin, error) {
	st := t.state.Load()
	hash := hashOf(wasm)
	loadErr := func(kind Kind, err error, stderr string) *LoadError {
		return &LoadError{Tenant: t.id, Plugin: name, Hash: hash, Kind: kind, Err: err, Stderr: stderr}
	}

	tr, cm, reason, err := t.acquire(ctx, st, hash, wasm)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			return nil, loadErr(le.Kind, notWasmHint(wasm, le.Err), le.Stderr)
		}
		return nil, err
	}
	if err := hostFuncs.checkGrants(cm.cm, st.grants); err != nil {
		t.e.release(tr, hash)
		var le *LoadError
		errors.As(err, &le)
		return nil, loadErr(le.Kind, le.Err, "")
	}
	p := &Plugin{
		t: t, name: name, hash: hash, lim: st.limits, grants: st.grants,
		rt: tr, compiled: cm, hasInit: cm.hasInit, mode: tr.key.mode,
	}
	p.pool = newPool(p, t.e.budget, st.limits.MaxInstances)
	t.e.budget.register(p.pool)

	// The first load of these bytes under these limits and grants warms an
	// instance to read the module's metadata; later ones (other tenants, a
	// restart's second tenant onwards) start with an empty pool, and their
	// first call creates the instance.
	mk := metaKey{lim: st.limits, grants: st.grants}
	info, known := t.e.knownInfo(cm, mk)
	if !known {
		info, err = p.warm(ctx)
	}
	if err != nil {
		_ = p.shutdown(context.WithoutCancel(ctx), errVersionReplaced)
		var ce *CallError
		if errors.As(err, &ce) {
			if ce.Kind == KindTrap {
				ce.Err = commandHint(cm.cm, ce.Err)
			}
			return nil, loadErr(ce.Kind, ce.Err, ce.Stderr)
		}
		kind := KindOf(err) // ErrNoInstance: the global budget stayed full
		if kind == 0 {
			kind = KindInvalidModule
		}
		return nil, loadErr(kind, err, "")
	}
	info.Hash, info.Size, info.CompileTime = hash, len(wasm), cm.compileTime
	if !known {
		// A later load of the same bytes under the same limits and grants
		// reports what the first one found: its own first instance takes
		// its snapshot the same way.
		info.PreInitialized, info.PreInitReason = p.pre.status()
		t.e.learnInfo(cm, mk, info)
	}
	info.CPULimit, info.CPULimitReason = tr.key.mode, reason
	p.info = info
	p.handles = make(map[string]struct{}, len(info.Commands))
	for _, c := range info.Commands {
		p.handles[c] = struct{}{}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		go p.shutdown(context.Background(), errTenantDeleted)
		return nil, fmt.Errorf("tenant[%s]: closed", t.id)
	}
	t.plugins[p] = struct{}{}
	return p, nil
}

// acquire rewrites the module (once per hash, see prepare.go), picks its CPU
// limit mode, and returns the engine's runtime for lim and that mode and the
// module compiled in it, taking a reference on both, and why the CPU limit
// is not instructions (empty when it is).
func (t *Sandbox) acquire(ctx context.Context, st *tenantState, hash string, wasm []byte) (*sharedRuntime, *compiledModule, string, error) {
	// The rewritten bytes are needed only until compiled: holding them for
	// the plugin's life would cost 6-7 MB per Go module.
	pm := t.e.prepare(hash, wasm)
	defer t.e.unprepare(hash)
	if pm.refused != nil {
		return nil, nil, "", &LoadError{Kind: KindInvalidModule, Err: pm.refused}
	}
	mode, reason := cpuMode(st.cpu, pm)
	// A module the rewriter refuses is refused unless the operator allows
	// the deadline fallback. One it found malformed is compiled first, so
	// that wazero's error says what is wrong with it.
	unmetered := mode == CPULimitDeadline && st.cpu == "" && !t.e.deadlineFallback
	if unmetered && !errors.Is(pm.notMetered, wasmrewrite.ErrMalformed) {
		return nil, nil, "", errUnmetered(reason)
	}
	key := runtimeKey{memoryPages: st.limits.MemoryPages, mode: mode}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, nil, "", fmt.Errorf("tenant[%s]: closed", t.id)
	}
	e := t.e
	e.rtMu.Lock()
	tr := e.runtimes[key]
	if tr == nil {
		var err error
		if tr, err = e.newRuntime(ctx, key); err != nil {
			e.rtMu.Unlock()
			return nil, nil, "", fmt.Errorf("tenant[%s]: %w", t.id, err)
		}
		e.runtimes[key] = tr
	}
	tr.refs++
	cm := tr.compiled[hash]
	owner := cm == nil
	if owner {
		cm = &compiledModule{ready: make(chan struct{})}
		tr.compiled[hash] = cm
	}
	cm.refs++
	e.rtMu.Unlock()

	if owner {
		unlock := e.lockHash(hash)
		start := time.Now()
		code := pm.metered
		if mode != CPULimitInstructions {
			code = pm.plainWasm()
		}
		cm.cm, cm.err = e.compile(ctx, tr.rt, code)
		cm.compileTime = time.Since(start)
		unlock()
		if cm.err == nil {
			cm.hasInit, cm.err = checkModule(cm.cm)
		}
		if cm.err == nil {
			cm.err = checkMeterImports(cm.cm, mode)
		}
		close(cm.ready)
	} else {
		select {
		case <-cm.ready:
		case <-ctx.Done():
			e.release(tr, hash)
			return nil, nil, "", ctx.Err()
		}
	}
	if cm.err != nil {
		err := cm.err
		e.release(tr, hash)
		if !errors.As(err, new(*LoadError)) && !errors.Is(err, errCompileAbandoned) {
			err = &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("compile: %w", err)}
		}
		return nil, nil, "", err
	}
	if unmetered {
		e.release(tr, hash)
		return nil, nil, "", errUnmetered(reason)
	}
	return tr, cm, reason, nil
}

// errUnmetered refuses a module the metering rewriter cannot handle
// (EngineOptions.DeadlineFallback).
func errUnmetered(reason string) error {
	return &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf(
		"the module cannot be metered (%s), and only metered modules are run: a guest the host cannot stop at a safe point holds its core, and stalls the whole server's garbage collector, until its deadline; "+
			"build it with the imhook SDK (an operator can run such modules under a wall-clock deadline with sandbox.deadline_fallback: true)", reason)}
}

// release drops the references acquire took, closing what nothing uses: a
// compiled module with its last plugin, a runtime with its last module.
func (e *Engine) release(tr *sharedRuntime, hash string) {
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	ctx := context.Background()
	if cm := tr.compiled[hash]; cm != nil {
		if cm.refs--; cm.refs == 0 {
			delete(tr.compiled, hash)
			if cm.cm != nil {
				_ = cm.cm.Close(ctx)
			}
		}
	}
	if tr.refs--; tr.refs == 0 {
		delete(e.runtimes, tr.key)
		_ = tr.rt.Close(ctx)
	}
}

// knownInfo returns what an earlier load learnt from the module's first
// instance under the same limits and grants.
func (e *Engine) knownInfo(cm *compiledModule, k metaKey) (ModuleInfo, bool) {
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	info, ok := cm.infos[k]
	return info, ok
}

// learnInfo records what a load learnt from the module's first instance.
func (e *Engine) learnInfo(cm *compiledModule, k metaKey, info ModuleInfo) {
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	if cm.infos == nil {
		cm.infos = make(map[metaKey]ModuleInfo)
	}
	cm.infos[k] = info
}

// newRuntime creates a wazero runtime with a memory cap, the CPU limit's
// termination checks when calls are limited, the shared compilation cache,
// WASI, the imhook host module and, for metered modules, their refuel import
// (cpu.go). Host functions find the calling instance, and through it the
// tenant, in the call's context (hostfunc.go), so the runtime holds nothing
// of any tenant.
//
// DWARF is off: metering moves every instruction, so the source lines of a
// module's .debug_* sections would be wrong, and wazero would scan those
// sections, as large as the upload, for every frame of every trap. Stack
// traces keep the function names of the name section.
func (e *Engine) newRuntime(ctx context.Context, key runtimeKey) (*sharedRuntime, error) {
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithMemoryLimitPages(key.memoryPages).
		WithCloseOnContextDone(key.mode == CPULimitDeadline).
		WithCoreFeatures(api.CoreFeaturesV2).
		WithDebugInfoEnabled(false)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	if err := instantiateWASI(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, err
	}
	if key.mode == CPULimitInstructions {
		if err := instantiateMeterModule(ctx, rt); err != nil {
			_ = rt.Close(ctx)
			return nil, err
		}
	}
	return &sharedRuntime{key: key, rt: rt, compiled: make(map[string]*compiledModule)}, nil
}

// Close is for a deleted tenant: it closes every plugin of the tenant, and the calls running in its plugins end with it: they are
// aborted at once (a metered guest stops at its next refuel or host function,
// within a slice of its budget; a call queued for an instance does not enter
// the guest; a guest in deadline mode is stopped as its deadline would stop
// it) and fail with KindClosed, "the tenant was deleted". Close then waits
// for them to return, up to ctx.
func (t *Sandbox) Close(ctx context.Context) error {
	return t.close(ctx, true)
}

// close closes the tenant. deleted: the calls running in its plugins are
// aborted at once (KindClosed, "the tenant was deleted"); otherwise (the
// engine closes) they get until ctx ends.
func (t *Sandbox) close(ctx context.Context, deleted bool) error {
	plugins, ok := markClosed(&t.mu, &t.closed, t.plugins)
	if !ok {
		return nil
	}
	reason := errEngineClosed
	if deleted {
		reason = errTenantDeleted
		for _, p := range plugins {
			p.pool.shut()
			p.pool.abort(KindClosed, reason)
		}
	}
	var errs []error
	for _, p := range plugins {
		p.t.mu.Lock()
		delete(p.t.plugins, p)
		p.t.mu.Unlock()
		errs = append(errs, p.shutdown(ctx, reason))
	}
	t.e.forget(t)
	return errors.Join(errs...)
}

// errCompileAbandoned is the error of a compile whose caller gave up.
var errCompileAbandoned = errors.New("compile abandoned")

// compileWorkers is how many goroutines compile one module. wazero checks
// its context only between functions and only when compiling on several
// goroutines; two is the fewest that lets the compile deadline stop it.
const compileWorkers = 2

// compile compiles a module within the engine's compile deadline. wazero
// cannot stop in the middle of a function, so a compile stops up to one
// function's compile time late: wasmcheck's limits keep that to a second or
// two (docs/sandbox.md).
//
// # Errors
//
// A *LoadError when the deadline passed, errCompileAbandoned when ctx ended
// first (the module is not at fault), or wazero's error.
func (e *Engine) compile(ctx context.Context, rt wazero.Runtime, wasm []byte) (cm wazero.CompiledModule, err error) {
	cctx, cancel := context.WithTimeout(ctx, e.compileTimeout)
	defer cancel()
	// wazero v1.12 panics validating some invalid modules (a call of a
	// function whose type index is out of range) on this goroutine; an
	// upload must never take the process down, so that is a refusal.
	defer func() {
		if p := recover(); p != nil {
			cm, err = nil, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("the module is invalid (wazero's validator failed on it: %v)", p)}
		}
	}()
	cm, err = rt.CompileModule(experimental.WithCompilationWorkers(cctx, compileWorkers), wasm)
	switch {
	case err == nil:
		return cm, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", errCompileAbandoned, ctx.Err())
	case cctx.Err() != nil:
		return nil, &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf(
			"compiling took longer than %v; the module is too large or its functions have too much control flow", e.compileTimeout)}
	}
	return nil, err
}

// markClosed sets *closed under mu and returns the members of set at that
// moment, or false when it was closed already: the first step of every
// Close here, after which nothing joins set.
func markClosed[T comparable](mu *sync.Mutex, closed *bool, set map[T]struct{}) ([]T, bool) {
	mu.Lock()
	defer mu.Unlock()
	if *closed {
		return nil, false
	}
	*closed = true
	return slices.Collect(maps.Keys(set)), true
}
