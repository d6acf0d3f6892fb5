package plugins

import (
	"fmt"
	"math"
	"time"
)

// Limits bound what one tenant's plugin may use. A Plugin takes a copy of its
// tenant's Limits when it is loaded (Tenant.Load); to apply new limits the host
// loads the plugin again and swaps it in.
//
// Start from DefaultLimits and change what you need. A zero field means "use
// the default", except CallTimeout: zero disables the CPU limit.
type Limits struct {
	// MemoryPages caps the linear memory of each instance, in 64 KiB pages.
	// Default 512 (32 MiB). A Go guest needs at least 64 pages to start.
	MemoryPages uint32
	// MaxInstructions is the instruction budget of one call of a metered
	// module (KindCPUTime when spent; see CPULimitInstructions). Default
	// 100 million: 10-20 ms of CPU, 700 times what the example plugins use
	// (docs/metering.md).
	MaxInstructions uint64
	// InitInstructions is the budget of a metered module's _initialize, run
	// once per instance. Default 100 million; a Go guest uses about 1.5 million.
	InitInstructions uint64
	// CallTimeout is a wall-clock limit of one call. For a metered module it
	// is the backstop for time spent in host functions (a granted sleep,
	// slow logging), counted from the call's first host-function entry; for a
	// module that cannot be metered it bounds the whole call, from the moment
	// the guest is entered (CPULimitDeadline). Either way the call stops with
	// KindCPUTime, and the caller's context deadline shortens the limit when
	// earlier. Default 100ms. Zero (or negative) disables every CPU limit,
	// instruction budget included: only for benchmarks and trusted code,
	// because a guest loop then runs forever.
	CallTimeout time.Duration
	// InitTimeout plays the role of CallTimeout for instantiation, the
	// guest's _initialize included. Default 2s: a Go guest takes a few
	// milliseconds, slower under -race or on a busy machine. Disabled when
	// CallTimeout is zero.
	InitTimeout time.Duration
	// MaxInputBytes caps len(command)+len(body) of one call (KindInputSize).
	// Default 1 MiB, four times OpenIM's largest realistic message callback.
	MaxInputBytes int
	// MaxOutputBytes caps the reply or error message (KindOutputSize). Default 1 MiB.
	MaxOutputBytes int
	// MaxLogBytes caps the bytes a guest may log in one call (KindLogBytes).
	// Default 16 KiB: enough for a handful of diagnostic lines.
	MaxLogBytes int
	// MaxInstances caps the live instances of one plugin, so the number of
	// calls running at once. Default 8; a Go guest costs 4-7 MiB each.
	MaxInstances int
	// MaxCallsPerInstance recycles an instance after that many calls, because
	// linear memory never shrinks. Default 100000.
	MaxCallsPerInstance int

	// forceDeadline runs even meterable modules under CPULimitDeadline; for
	// tests and benchmarks that compare the two.
	forceDeadline bool
}

// Default values; see the Limits fields for why.
const (
	DefaultMemoryPages         = 512
	DefaultMaxInstructions     = 100_000_000
	DefaultInitInstructions    = 100_000_000
	DefaultCallTimeout         = 100 * time.Millisecond
	DefaultInitTimeout         = 2 * time.Second
	DefaultMaxInputBytes       = 1 << 20
	DefaultMaxOutputBytes      = 1 << 20
	DefaultMaxLogBytes         = 16 << 10
	DefaultMaxInstances        = 8
	DefaultMaxCallsPerInstance = 100_000
)

// maxMemoryPages keeps every guest address below abi.MaxPointer.
const maxMemoryPages = 32767

// DefaultLimits returns the limits used for fields left zero.
func DefaultLimits() Limits {
	return Limits{
		MemoryPages:         DefaultMemoryPages,
		MaxInstructions:     DefaultMaxInstructions,
		InitInstructions:    DefaultInitInstructions,
		CallTimeout:         DefaultCallTimeout,
		InitTimeout:         DefaultInitTimeout,
		MaxInputBytes:       DefaultMaxInputBytes,
		MaxOutputBytes:      DefaultMaxOutputBytes,
		MaxLogBytes:         DefaultMaxLogBytes,
		MaxInstances:        DefaultMaxInstances,
		MaxCallsPerInstance: DefaultMaxCallsPerInstance,
	}
}

// withDefaults fills zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.MaxInstructions == 0 {
		l.MaxInstructions = d.MaxInstructions
	}
	if l.InitInstructions == 0 {
		l.InitInstructions = d.InitInstructions
	}
	if l.InitTimeout == 0 {
		l.InitTimeout = d.InitTimeout
	}
	if l.MaxInputBytes == 0 {
		l.MaxInputBytes = d.MaxInputBytes
	}
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = d.MaxOutputBytes
	}
	if l.MaxLogBytes == 0 {
		l.MaxLogBytes = d.MaxLogBytes
	}
	if l.MaxInstances == 0 {
		l.MaxInstances = d.MaxInstances
	}
	if l.MaxCallsPerInstance == 0 {
		l.MaxCallsPerInstance = d.MaxCallsPerInstance
	}
	return l
}

// Validate reports the first field out of range, after defaults are applied.
func (l Limits) Validate() error {
	l = l.withDefaults()
	switch {
	case l.MemoryPages > maxMemoryPages:
		return fmt.Errorf("limits: memory_pages[%d] is above the maximum %d (2 GiB)", l.MemoryPages, maxMemoryPages)
	case l.MaxInputBytes < 0, l.MaxOutputBytes < 0, l.MaxLogBytes < 0, l.MaxInstances < 0, l.MaxCallsPerInstance < 0:
		return fmt.Errorf("limits: sizes and counts must not be negative: %+v", l)
	case l.MaxInstructions > math.MaxInt64, l.InitInstructions > math.MaxInt64:
		return fmt.Errorf("limits: max_instructions[%d] and init_instructions[%d] must not exceed %d", l.MaxInstructions, l.InitInstructions, int64(math.MaxInt64))
	case l.InitTimeout < 0:
		return fmt.Errorf("limits: init_timeout[%s] must not be negative", l.InitTimeout)
	}
	return nil
}

// cpuLimited reports whether calls run under a CPU limit at all.
func (l Limits) cpuLimited() bool { return l.CallTimeout > 0 }

// Grants lists the capabilities a tenant's guests get beyond the ABI. The zero
// value grants nothing: the guest sees a fake clock and a deterministic random
// source, and has no filesystem, environment, arguments or network in any case.
type Grants struct {
	// Walltime gives the guest the real wall clock. Without it the guest reads
	// wazero's fake clock: 2022-01-01T00:00:00Z, advancing 1ms per reading.
	Walltime bool
	// Nanotime gives the guest the real monotonic clock and real sleeps, still
	// bounded by the call deadline. Without it the monotonic clock is fake and a
	// sleep returns at once, moving the fake clock forward by the time asked.
	Nanotime bool
	// Random gives the guest a cryptographic random source. Without it the
	// source is deterministic (every instance sees the same bytes).
	Random bool
}
