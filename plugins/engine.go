// Package plugins runs tenants' WebAssembly plugins in wazero sandboxes: it
// compiles and validates modules, keeps bounded pools of warm instances, calls
// them under per-tenant limits, and hot-swaps plugin versions without failing
// calls. It is the only package of imhook that imports wazero.
//
// The ABI a module must implement is sdk/abi, specified in docs/abi.md; the
// design is in docs/sandbox.md.
//
//	e, _ := plugins.NewEngine(ctx, plugins.EngineOptions{CacheDir: dir, Commands: openim.CommandName})
//	t, _ := e.NewSandbox(plugins.SandboxOptions{ID: "acme", Limits: limits.Default()})
//	p, _ := t.Load(ctx, "antispam", wasm)
//	reply, _, err := p.Call(ctx, "callbackBeforeSendSingleMsgCommand", body, nil)
package plugins

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/guestmem"
	"github.com/imhook/imhook/plugins/limits"
)

// DefaultCompileTimeout is EngineOptions.CompileTimeout when it is zero. A
// Go plugin of 2-3 MB compiles in about a second, a 10 MB one in three to
// four; a module that takes longer than this is refused.
const DefaultCompileTimeout = 20 * time.Second

// DefaultEngineMaxInstances is the engine-wide budget of live instances when
// EngineOptions.MaxInstances is zero: 64 Go guests at 4-7 MiB each stay under
// half a GiB.
const DefaultEngineMaxInstances = 64

// DefaultIdleTimeout is EngineOptions.IdleTimeout when it is zero.
const DefaultIdleTimeout = 5 * time.Minute

// EngineOptions configures an Engine.
type EngineOptions struct {
	// CacheDir is the compilation cache directory, shared by all tenants; it
	// also keeps the metered form of each module (prepare.go). It is
	// created with mode 0700; an existing directory that others may write to is
	// refused, because wazero trusts what it finds there (it checks only a CRC).
	// Empty keeps compiled code in memory only.
	CacheDir string
	// MaxInstances is the global budget of live instances across all tenants.
	// Zero means DefaultEngineMaxInstances.
	MaxInstances int
	// CompileTimeout bounds the compilation of one module; a module that
	// takes longer is refused (a *LoadError). Zero means
	// DefaultCompileTimeout.
	CompileTimeout time.Duration
	// Logger receives the engine's own messages. Nil discards them.
	Logger *slog.Logger
	// CPUSlots is how many guest calls may run at once across all tenants,
	// shared fairly between them (fair.go). Zero means GOMAXPROCS.
	CPUSlots int
	// MaxCPUWait bounds how long a call waits for a CPU slot before it
	// fails with KindBusy. Zero means DefaultMaxCPUWait.
	MaxCPUWait time.Duration
	// IdleTimeout is how long an instance may sit unused in its pool before
	// it is closed (PoolStats.Released), its memory given back: a quiet
	// plugin costs no instance, and its next call creates one (a cold
	// start, within the call's deadline). Zero means DefaultIdleTimeout;
	// negative never releases.
	IdleTimeout time.Duration
	// Commands names the commands a module may declare: it returns the
	// name the host serves a command under (mapping a legacy name to the
	// current one), or false for a command the host does not serve, which
	// refuses the module. Nil accepts every name as declared. The sandbox
	// knows no protocol; the server passes OpenIM's catalog
	// (openim.CommandName).
	Commands func(name string) (string, bool)
	// NoPreInit makes every instance run its module's _initialize. By
	// default a plugin's first instance runs it and later ones start from
	// the state it left, when that is safe (docs/sandbox.md,
	// "Pre-initialised instances").
	NoPreInit bool
	// MemoryPool bounds the memory of closed instances kept for new ones
	// (guestmem.Pool: their pages stay resident, so a new instance does not
	// fault them in one by one, 2-15 us each on a VM). Zero means
	// DefaultMemoryPool; negative keeps none.
	MemoryPool int64
	// DeadlineFallback runs a module the metering rewriter refuses under a
	// wall-clock deadline (CPULimitDeadline) instead of refusing it. Off by
	// default: such a guest is not stopped at safe points, so it holds its
	// core, and every stop-the-world of Go's collector waits, until its
	// deadline (BenchmarkDeadlineOverrun: every other call 22 ms late).
	DeadlineFallback bool
}

// DefaultMemoryPool is EngineOptions.MemoryPool when it is zero: the
// touched memory of about 16 closed Go instances (4 MiB each).
const DefaultMemoryPool = 64 << 20

// Engine owns the compilation cache and the global instance budget, and makes
// tenants. It is safe for concurrent use.
type Engine struct {
	cacheDir string // "" without a disk cache
	cache    wazero.CompilationCache
	logger   *slog.Logger
	budget   *budget
	cpu      *cpuShare
	commands func(string) (string, bool) // EngineOptions.Commands
	preinit  bool                        // !EngineOptions.NoPreInit
	// deadlineFallback is EngineOptions.DeadlineFallback.
	deadlineFallback bool

	compileTimeout time.Duration // EngineOptions.CompileTimeout, defaulted

	// memPool keeps closed instances' memories for new ones; guestMemory
	// is the context that hands its allocator to wazero (instance.Value).
	memPool     *guestmem.Pool
	guestMemory context.Context

	// now is the clock of idle release (pool.put stamps instances with
	// it); tests replace it. stopSweep ends the release loop.
	now       func() time.Time
	stopSweep chan struct{}

	// rtMu guards runtimes and what they hold (sharedRuntime).
	rtMu     sync.Mutex
	runtimes map[runtimeKey]*sharedRuntime

	mu           sync.Mutex
	compiling    map[string]*hashLock
	tenants      map[*Sandbox]struct{}
	prepared     map[string]*prepared // by upload hash, see prepare.go
	idlePrepared []string             // hashes of prepared modules no plugin uses, oldest first
	closed       bool

	// yield, when set, runs at the end of every slice of a metered call
	// (cpu.go, refill), on the call's goroutine, inside the guest call: it
	// may block while other calls use the CPU, and may stop the guest with
	// i.stopGuest. i.now is the clock reading of that refill. Nil: no-op.
	yield func(i *instance)
	// sliceTime is how long a slice of a metered call should last (cpu.go,
	// sizeSlice); zero keeps every slice at refuelSlice instructions.
	sliceTime time.Duration
	// pollNet: the process has one P, which guests may hold, so the yield
	// polls the network itself (pollNetwork).
	pollNet bool
}

// pollNetwork makes Go's runtime poll the network now. When a guest call
// holds the process's only P, nothing else does between its slices: Gosched finds the
// yielding goroutine on the run queue before the scheduler would poll, and
// sysmon polls only every 10 ms, which put a neighbour's p99 at 9-14 ms on
// one core (docs/performance.md). Restarting the world polls the network
// (runtime.startTheWorldWithSema), and ReadMemStats stops and restarts it:
// 2.6 us with one P, paid once per slice (about 100 us) by calls long enough
// to reach one. Only with one P: with several, stopping the world would wait
// for every other guest to reach its slice end. It relies on the runtime's implementation, not its
// documentation; imhook bench --neighbour shows it if a Go release changes
// it.
func pollNetwork() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
}

// yieldCPU is the engine's yield hook: at the end of each slice, a call that
// holds a CPU slot accounts the guest time since its last accounting, with
// the clock reading refuel took (i.now), and hands its slot to a lighter
// tenant's waiting call if there is one, queueing for one again
// (cpuShare.yield). When no slot comes back in time the guest is stopped
// with KindBusy; the call then holds no slot, and Plugin.call does not
// release one. Time spent waiting is neither the tenant's guest time nor
// part of the call's wall-clock backstop (instance.offCPU).
func (e *Engine) yieldCPU(i *instance) {
	if !i.holdsCPU {
		return // _initialize, or a call made outside Plugin.call
	}
	ran := i.now.Sub(i.cpuSince)
	i.cpuSince = i.now
	// Let the goroutines this guest kept off its P run first: a callback
	// of another tenant can only queue for a slot once its goroutine has
	// run, and Go does not preempt guest code. With nothing runnable this
	// returns at once (a few hundred ns per slice of 1M instructions).
	runtime.Gosched()
	if e.pollNet {
		pollNetwork()
	}
	osYield() // and the other threads of the process, then everyone's
	waited, err := e.cpu.yield(i.ctx, &i.p.t.cpu, ran, i.now)
	if err != nil {
		i.holdsCPU = false
		i.stopGuest(KindBusy, fmt.Errorf("handed its CPU slot to a lighter tenant and got none back in time: %w", err))
	}
	if waited {
		i.resumed(time.Now())
	}
}

// NewEngine creates an engine.
//
// # Errors
//
// The cache directory cannot be created, is not a directory, or is writable by
// group or others.
func NewEngine(ctx context.Context, cfg EngineOptions) (*Engine, error) {
	e := &Engine{
		commands: cfg.Commands,
		preinit:  !cfg.NoPreInit,

		deadlineFallback: cfg.DeadlineFallback,
		logger:           cfg.Logger,
		compiling:        make(map[string]*hashLock),
		tenants:          make(map[*Sandbox]struct{}),
		prepared:         make(map[string]*prepared),
		runtimes:         make(map[runtimeKey]*sharedRuntime),

		compileTimeout: cmp.Or(cfg.CompileTimeout, DefaultCompileTimeout),
		now:            time.Now,
		stopSweep:      make(chan struct{}),
	}
	if e.logger == nil {
		e.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	max := cfg.MaxInstances
	if max <= 0 {
		max = DefaultEngineMaxInstances
	}
	if keep := cmp.Or(cfg.MemoryPool, DefaultMemoryPool); keep > 0 {
		e.memPool = guestmem.NewPool(uint64(keep))
	}
	e.guestMemory = experimental.WithMemoryAllocator(context.Background(), guestmem.Allocator{Pool: e.memPool})
	e.budget = newBudget(max)
	e.cpu = newCPUShare(cfg.CPUSlots, cfg.MaxCPUWait)
	e.pollNet = runtime.GOMAXPROCS(0) == 1
	e.yield = e.yieldCPU
	e.sliceTime = sliceTime
	if cfg.CacheDir == "" {
		e.cache = wazero.NewCompilationCache()
	} else {
		if err := privateDir(cfg.CacheDir); err != nil {
			return nil, err
		}
		e.cacheDir = cfg.CacheDir
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache[%s]: %w", cfg.CacheDir, err)
		}
		e.cache = c
	}
	if idle := cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout); idle > 0 {
		go e.sweepIdle(idle)
	}
	return e, nil
}

// sweepIdle releases the instances idle for longer than idle, every half
// of it (at least every 10 ms), until the engine closes; and the memory
// pool's mappings when no instance was created since the last sweep.
func (e *Engine) sweepIdle(idle time.Duration) {
	tick := time.NewTicker(max(idle/2, 10*time.Millisecond))
	defer tick.Stop()
	var made uint64
	for {
		select {
		case <-e.stopSweep:
			return
		case <-tick.C:
			e.releaseIdle(e.now().Add(-idle))
			s := e.memPool.Stats()
			if now := s.Reused + s.Fresh; now == made {
				e.memPool.Trim()
			} else {
				made = now
			}
		}
	}
}

// releaseIdle closes every instance idle since before cutoff, in every pool,
// and returns how many it closed.
func (e *Engine) releaseIdle(cutoff time.Time) int {
	n := 0
	for _, pl := range e.budget.all() {
		n += pl.releaseIdle(cutoff)
	}
	return n
}

// privateDir creates dir with mode 0700 or checks that an existing one is
// private to this user.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("compilation cache[%s]: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("compilation cache[%s]: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("compilation cache[%s]: not a directory", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("compilation cache[%s]: mode %v lets others write compiled code the engine would run; chmod 700 it", dir, fi.Mode().Perm())
	}
	return nil
}

// Close closes every tenant (waiting for calls in flight up to ctx, then
// aborting them with KindClosed, "the engine was closed", as Plugin.Close
// does) and the compilation cache. The engine is unusable afterwards.
func (e *Engine) Close(ctx context.Context) error {
	tenants, ok := markClosed(&e.mu, &e.closed, e.tenants)
	if !ok {
		return nil
	}
	close(e.stopSweep)
	var errs []error
	for _, t := range tenants {
		errs = append(errs, t.close(ctx, false))
	}
	errs = append(errs, e.cache.Close(ctx))
	e.memPool.Trim()
	return errors.Join(errs...)
}

// ModuleInfo describes a validated module.
type ModuleInfo struct {
	Hash        string   // sha256 hex of the module bytes
	Size        int      // bytes
	ABIVersion  uint32   // abi.Version
	Commands    []string // the commands the module handles, normalised wire names
	CompileTime time.Duration
	// CPULimit says how runaway calls are stopped: CPULimitInstructions for
	// every module the rewriter can meter, CPULimitDeadline for the others.
	CPULimit CPULimit
	// CPULimitReason says why CPULimit is not CPULimitInstructions (the
	// feature the rewriter does not support, or the limits); empty otherwise.
	CPULimitReason string
	// InitInstructions is what the module's _initialize used on the first
	// instance (0 when not metered or without _initialize).
	InitInstructions uint64
	// PreInitialized reports that the plugin's instances after the first
	// start from the state its _initialize left (preinit.go);
	// PreInitReason says why not, for a metered module with an
	// _initialize (empty otherwise, and when pre-initialisation is off).
	PreInitialized bool
	PreInitReason  string
	// WireInput reports that the module accepts requests in the wire format
	// (abi.InputWire): the host may call it with CallWire.
	WireInput bool
}

// Inspect validates a module for upload without activating it: it compiles it
// (through the cache), checks its imports, exports and their signatures,
// instantiates it once under lim (running _initialize under lim's deadline and
// memory cap), and checks its ABI version and declared commands.
//
// # Errors
//
// A *LoadError (errors.Is(err, ErrInvalidModule)) whose message says what was
// expected, or an error of the engine itself.
func (e *Engine) Inspect(ctx context.Context, wasm []byte, lim limits.Limits) (ModuleInfo, error) {
	return e.InspectFor(ctx, wasm, lim, limits.Grants{})
}

// InspectFor is Inspect for a tenant granted g: a module importing host
// functions behind a grant (imhook.http) passes only when g has it. The
// module is never called, so it makes no out-call.
func (e *Engine) InspectFor(ctx context.Context, wasm []byte, lim limits.Limits, g limits.Grants) (ModuleInfo, error) {
	t, err := e.NewSandbox(SandboxOptions{ID: "", Limits: lim, Grants: g})
	if err != nil {
		return ModuleInfo{}, err
	}
	defer t.Close(context.WithoutCancel(ctx))
	p, err := t.Load(ctx, "", wasm)
	if err != nil {
		return ModuleInfo{}, err
	}
	return p.info, nil
}

// NewSandbox makes a tenant. Its plugins run in the engine's runtime for
// their memory cap and CPU limit mode, shared with other tenants: each
// instance is anonymous, so no module can link to another, and a module
// compiled once serves every tenant that uploaded the same bytes.
//
// # Errors
//
// The engine is closed or cfg.Limits is invalid.
func (e *Engine) NewSandbox(cfg SandboxOptions) (*Sandbox, error) {
	if err := cfg.Limits.Validate("limits."); err != nil {
		return nil, fmt.Errorf("tenant[%s]: %w", cfg.ID, err)
	}
	if err := validForce(cfg.CPULimit); err != nil {
		return nil, fmt.Errorf("tenant[%s]: %w", cfg.ID, err)
	}
	t := &Sandbox{e: e, id: cfg.ID, plugins: make(map[*Plugin]struct{})}
	t.state.Store(e.newTenantState(cfg))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, fmt.Errorf("tenant[%s]: engine is closed", cfg.ID)
	}
	e.tenants[t] = struct{}{}
	return t, nil
}

func (e *Engine) newTenantState(cfg SandboxOptions) *tenantState {
	st := &tenantState{limits: cfg.Limits.WithDefaults(), grants: cfg.Grants, cpu: cfg.CPULimit, logger: cfg.Logger, kv: cfg.KV}
	st.config = make(map[string]string, len(cfg.Config))
	for k, v := range cfg.Config {
		st.config[k] = v
	}
	if st.logger == nil {
		st.logger = e.logger
	}
	st.http, st.secrets = cfg.HTTP, maps.Clone(cfg.Secrets)
	st.egress, _ = egress.ParseAllow("egress_allow", cfg.EgressAllow) // the valid ones
	return st
}

func (e *Engine) forget(t *Sandbox) {
	e.mu.Lock()
	delete(e.tenants, t)
	e.mu.Unlock()
}

// lockHash serialises compiles of the same bytes across tenants: the first
// compiles, the others then find the code in the shared cache.
func (e *Engine) lockHash(hash string) func() {
	e.mu.Lock()
	l := e.compiling[hash]
	if l == nil {
		l = &hashLock{}
		e.compiling[hash] = l
	}
	l.refs++
	e.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		e.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(e.compiling, hash)
		}
		e.mu.Unlock()
	}
}

type hashLock struct {
	mu   sync.Mutex
	refs int
}

// hashOf returns the sha256 hex of b.
func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// commandName names a declared command (EngineOptions.Commands).
func (e *Engine) commandName(name string) (string, bool) {
	if e.commands == nil {
		return name, true
	}
	return e.commands(name)
}

// CPUStats returns a snapshot of the CPU share between tenants.
func (e *Engine) CPUStats() CPUStats { return e.cpu.stats() }

// MemoryPoolStats returns what the pool of closed instances' memories did
// (EngineOptions.MemoryPool).
func (e *Engine) MemoryPoolStats() guestmem.PoolStats { return e.memPool.Stats() }
