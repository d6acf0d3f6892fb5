package plugins

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/preinit"
	"github.com/imhook/imhook/sdk/abi"
)

// Pre-initialised instances (docs/sandbox.md, "Pre-initialised instances").
// A plugin's first instance runs _initialize as always: under the init
// budget, holding a CPU slot, within the memory cap. The plugin then keeps
// what _initialize changed (plugins/internal/preinit) and starts every later
// instance from it without running _initialize: for a Go guest, 0.2 ms
// instead of 0.7-2 ms. It is taken only when _initialize did nothing a copy
// would get wrong:
//
//   - it called no imhook host function (settings, state, secrets, out-calls
//     and logs are the tenant's and may change between instances);
//   - it read no real random bytes (the random grant: the Go runtime seeds its
//     map hashes and math/rand from them, and a copy would give every
//     instance the same sequence) and no real wall clock (the walltime grant:
//     a time taken at init would be the first instance's).
//
// The real monotonic clock (the nanotime grant) is fine: a copy just sees
// more time passed since init. The fake clocks and the deterministic random
// source are carried across with the snapshot, so a copy reads what the
// first instance would have read next.

// preinitState is a plugin's snapshot, once taken.
type preinitState struct {
	claimed atomic.Bool // the first instance with _initialize tries to take it
	snap    atomic.Pointer[snapshot]
	mu      sync.Mutex
	reason  string // why instances run _initialize themselves ("" otherwise)
}

// maxSkippedRandom bounds the deterministic random bytes a copy skips (what
// the first instance's _initialize read; a Go runtime reads a few dozen).
const maxSkippedRandom = 64 << 10

// snapshot is the guest's state after _initialize and the host's side of it.
type snapshot struct {
	*preinit.Snapshot
	clock    fakeClock
	randRead int64
	initUsed uint64
}

// notPreinit records why the plugin's instances run _initialize themselves.
func (s *preinitState) notPreinit(reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason = reason
	}
	s.mu.Unlock()
	s.snap.Store(nil)
}

// status reports whether instances start from a snapshot, and why not.
func (s *preinitState) status() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap.Load() != nil, s.reason
}

// wantSnapshot reports whether instance i, about to run _initialize, is the
// one that takes the plugin's snapshot.
func (p *Plugin) wantSnapshot() bool {
	if !p.t.e.preinit {
		return false
	}
	return p.pre.claimed.CompareAndSwap(false, true)
}

// takeSnapshot keeps the state i's _initialize left, when nothing it did
// forbids a copy (i.initTaint), then checks it: a new instance started from
// it must hold the same memory and globals as i.
func (p *Plugin) takeSnapshot(i *instance, mod api.Module, before []byte) {
	if i.initTaint != "" {
		p.pre.notPreinit(i.initTaint)
		return
	}
	if i.rand.read > maxSkippedRandom {
		// A copy would make and drop them at its first random_get.
		p.pre.notPreinit(fmt.Sprintf("_initialize read %d random bytes, more than the %d a copy skips", i.rand.read, maxSkippedRandom))
		return
	}
	s, err := preinit.Capture(mod, before)
	if err != nil {
		p.pre.notPreinit(err.Error())
		return
	}
	snap := &snapshot{Snapshot: s, clock: i.clock, randRead: i.rand.read, initUsed: i.initUsed}
	if err := p.checkSnapshot(mod, snap); err != nil {
		p.pre.notPreinit(err.Error())
		return
	}
	p.pre.snap.Store(snap)
}

// checkSnapshot starts an instance from snap and compares its memory and
// globals with those of the instance snap was taken from.
func (p *Plugin) checkSnapshot(want api.Module, snap *snapshot) error {
	i := &instance{p: p}
	mod, err := p.rt.rt.InstantiateModule(i, p.compiled.cm, p.moduleConfig(i).WithStartFunctions())
	if err != nil {
		return fmt.Errorf("instantiate: %w", err)
	}
	defer mod.Close(context.Background())
	if err := snap.Apply(mod); err != nil {
		return err
	}
	if err := preinit.Same(mod, want); err != nil {
		return fmt.Errorf("an instance started from the snapshot is not the one it was taken from: %w", err)
	}
	return nil
}

// startFromSnapshot puts a new, metered instance in the snapshot's state.
func (i *instance) startFromSnapshot(mod api.Module, snap *snapshot) error {
	if err := snap.Apply(mod); err != nil {
		return err
	}
	i.clock = snap.clock
	i.rand.skip = snap.randRead
	i.initUsed = snap.initUsed
	return nil
}

// noteInitCall records, during the _initialize a snapshot may be taken of,
// a host call that a copy of the instance would not repeat correctly.
func (i *instance) noteInitCall(module, name string, stack []uint64) {
	if i.initTaint != "" {
		return
	}
	switch {
	case module == abi.HostModule:
		i.initTaint = fmt.Sprintf("_initialize called %s.%s", module, name)
	case name == "random_get" && i.p.grants.Random:
		i.initTaint = "_initialize read random bytes (granted random: every copy would get the same)"
	case name == "clock_time_get" && uint32(stack[0]) == 0 && i.p.grants.Walltime:
		i.initTaint = "_initialize read the wall clock (granted walltime)"
	}
}

// fakeRand is the deterministic random source of a guest without the random
// grant: the bytes of wazero's default source (math/rand seeded 42), made on
// first use, so that an instance that never asks costs nothing. skip is how
// many bytes the snapshot's _initialize had read, for a copy to continue
// after them.
type fakeRand struct {
	r    *rand.Rand
	skip int64
	read int64
}

// Read implements io.Reader.
func (f *fakeRand) Read(p []byte) (int, error) {
	if f.r == nil {
		f.r = rand.New(rand.NewSource(42))
		if f.skip > 0 {
			_, _ = f.r.Read(make([]byte, f.skip))
			f.read = f.skip
		}
	}
	f.read += int64(len(p))
	return f.r.Read(p)
}
