// Package limits is the one schema of what a tenant's plugins may use: the
// limits of each call (Limits) and the capabilities granted beyond the ABI
// (Grants), with their keys, defaults and bounds.
//
// The sandbox enforces these values, the registry stores and validates them
// per tenant, the server's configuration sets their defaults
// (sandbox.limits.*), the admin API and `imhook run` expose them. All of them
// use this package, so a new limit is one entry in Fields and one struct
// field, nowhere else. It imports only the standard library, so the registry
// can validate settings without linking the sandbox.
package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Limits bound what one call of a tenant's plugin may use. A zero field means
// "the default": the server's sandbox.limits, else the value in Fields. The
// same struct is the configuration block, the tenant's stored settings and
// the sandbox's input, so the keys below are the only names of each limit.
type Limits struct {
	// MemoryPages caps the linear memory of each instance, in 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages,omitempty" koanf:"memory_pages"`
	// MaxInstructions is the instruction budget of one call of a metered
	// module; a runaway guest is stopped when it is spent.
	MaxInstructions uint64 `json:"max_instructions,omitempty" koanf:"max_instructions"`
	// InitInstructions is the budget of a metered module's _initialize, run
	// once per instance.
	InitInstructions uint64 `json:"init_instructions,omitempty" koanf:"init_instructions"`
	// CallTimeout bounds one call in wall time: the time spent in host
	// functions of a metered module, the whole call of one that cannot be
	// metered. In JSON it is nanoseconds.
	CallTimeout time.Duration `json:"call_timeout,omitempty" koanf:"call_timeout"`
	// InitTimeout is CallTimeout for instantiation, _initialize included.
	InitTimeout time.Duration `json:"init_timeout,omitempty" koanf:"init_timeout"`
	// MaxInputBytes caps len(command)+len(body) of one call.
	MaxInputBytes int `json:"max_input_bytes,omitempty" koanf:"max_input_bytes"`
	// MaxOutputBytes caps the reply or error message of one call.
	MaxOutputBytes int `json:"max_output_bytes,omitempty" koanf:"max_output_bytes"`
	// MaxLogBytes caps the bytes a guest may log in one call; each line
	// counts at least MinLogLineBytes.
	MaxLogBytes int `json:"max_log_bytes,omitempty" koanf:"max_log_bytes"`
	// MaxLogLines caps the lines a guest may log in one call, empty ones
	// included.
	MaxLogLines int `json:"max_log_lines,omitempty" koanf:"max_log_lines"`
	// MaxInstances caps the live instances of one plugin version, so its
	// calls running at once.
	MaxInstances int `json:"max_instances,omitempty" koanf:"max_instances"`
	// MaxCallsPerInstance recycles an instance after that many calls,
	// because linear memory never shrinks.
	MaxCallsPerInstance int `json:"max_calls_per_instance,omitempty" koanf:"max_calls_per_instance"`
	// HTTP out-calls (grant "http"; docs/abi.md, imhook.http):
	// MaxOutCalls caps the out-calls one call may make.
	MaxOutCalls int `json:"max_out_calls,omitempty" koanf:"max_out_calls"`
	// OutCallTimeout bounds one out-call, which is also cut at what is left
	// of the callback's deadline. In JSON it is nanoseconds.
	OutCallTimeout time.Duration `json:"out_call_timeout,omitempty" koanf:"out_call_timeout"`
	// MaxOutRequestBytes caps an out-call's request body.
	MaxOutRequestBytes int `json:"max_out_request_bytes,omitempty" koanf:"max_out_request_bytes"`
	// MaxOutResponseBytes caps an out-call's response body.
	MaxOutResponseBytes int `json:"max_out_response_bytes,omitempty" koanf:"max_out_response_bytes"`
	// MaxOutConcurrency caps the out-calls of one tenant in flight at once.
	MaxOutConcurrency int `json:"max_out_concurrency,omitempty" koanf:"max_out_concurrency"`
	// MaxOutIdleConns caps the keep-alive connections kept per tenant.
	MaxOutIdleConns int `json:"max_out_idle_conns,omitempty" koanf:"max_out_idle_conns"`
	// The tenant's key-value state (grant kv): live keys, their bytes
	// (keys plus values), one key, one value, and state operations in one
	// call. Exceeding one is a quota status for the guest, not a trap.
	MaxKVKeys       int64 `json:"max_kv_keys,omitempty" koanf:"max_kv_keys"`
	MaxKVBytes      int64 `json:"max_kv_bytes,omitempty" koanf:"max_kv_bytes"`
	MaxKVKeyBytes   int   `json:"max_kv_key_bytes,omitempty" koanf:"max_kv_key_bytes"`
	MaxKVValueBytes int   `json:"max_kv_value_bytes,omitempty" koanf:"max_kv_value_bytes"`
	MaxKVOps        int   `json:"max_kv_ops,omitempty" koanf:"max_kv_ops"`
}

// MinLogLineBytes is what a log line counts toward MaxLogBytes at least,
// so that empty lines are not free.
const MinLogLineBytes = 64

// Field describes one limit: its key (JSON, configuration and error
// messages alike), its default, the range a non-zero value must fall in, and
// what it is for.
type Field struct {
	Key      string
	Default  int64
	Min, Max int64
	// Unit is "duration" for time.Duration fields (values in nanoseconds),
	// otherwise empty.
	Unit string
	Doc  string
	// get and set read and write the field in a Limits.
	get func(*Limits) int64
	set func(*Limits, int64)
}

// Get returns the field's value in l (0 when unset).
func (f Field) Get(l Limits) int64 { return f.get(&l) }

// Set sets the field in l.
func (f Field) Set(l *Limits, v int64) { f.set(l, v) }

// Format renders a value of the field for people: a duration for durations.
func (f Field) Format(v int64) string {
	if f.Unit == "duration" {
		return time.Duration(v).String()
	}
	return fmt.Sprint(v)
}

// number is what a Limits field can be.
type number interface {
	~uint32 | ~uint64 | ~int | ~int64
}

func field[T number](key string, p func(*Limits) *T, def, min, max int64, unit, doc string) Field {
	return Field{
		Key: key, Default: def, Min: min, Max: max, Unit: unit, Doc: doc,
		get: func(l *Limits) int64 { return int64(*p(l)) },
		set: func(l *Limits, v int64) { *p(l) = T(v) },
	}
}

const (
	kib = 1 << 10
	mib = 1 << 20
	// MaxMemoryPages keeps every guest address below sdk/abi.MaxPointer
	// (guest pointers have 31 bits): 2 GiB.
	MaxMemoryPages = 1<<15 - 1
)

// Fields lists every limit, in the order documentation shows them. Why each
// default is what it is: docs/sandbox.md and docs/metering.md.
var Fields = []Field{
	field("memory_pages", func(l *Limits) *uint32 { return &l.MemoryPages },
		512, 1, MaxMemoryPages, "", "linear memory cap per instance, in 64 KiB pages (Go guests need at least 64)"),
	// Below 10 000 instructions not even an empty Go handler runs; ten
	// thousand million is one to two seconds of CPU.
	field("max_instructions", func(l *Limits) *uint64 { return &l.MaxInstructions },
		100_000_000, 10_000, 10_000_000_000, "", "instruction budget of one call (100 million is 10-20 ms of CPU)"),
	field("init_instructions", func(l *Limits) *uint64 { return &l.InitInstructions },
		100_000_000, 10_000, 10_000_000_000, "", "instruction budget of an instance's _initialize (a Go guest uses about 1.5 million)"),
	field("call_timeout", func(l *Limits) *time.Duration { return &l.CallTimeout },
		int64(100*time.Millisecond), int64(time.Millisecond), int64(time.Minute), "duration", "wall-clock bound of one call (host functions when metered, the whole call otherwise)"),
	field("init_timeout", func(l *Limits) *time.Duration { return &l.InitTimeout },
		int64(2*time.Second), int64(time.Millisecond), int64(time.Minute), "duration", "wall-clock bound of instantiation, _initialize included"),
	field("max_input_bytes", func(l *Limits) *int { return &l.MaxInputBytes },
		mib, kib, 64*mib, "", "largest command plus body handed to a plugin"),
	field("max_output_bytes", func(l *Limits) *int { return &l.MaxOutputBytes },
		mib, kib, 64*mib, "", "largest reply or error message of a plugin"),
	field("max_log_bytes", func(l *Limits) *int { return &l.MaxLogBytes },
		16*kib, 1, mib, "", "log bytes one call may write (a line counts at least 64)"),
	// A log record costs the server its time, level, tenant, plugin,
	// version and command whatever the message: 100 lines of a call are
	// about 20 KB of JSON log, as much as the bytes of max_log_bytes.
	field("max_log_lines", func(l *Limits) *int { return &l.MaxLogLines },
		100, 1, 10_000, "", "log lines one call may write, empty ones included"),
	field("max_instances", func(l *Limits) *int { return &l.MaxInstances },
		8, 1, 1024, "", "live instances per plugin version, so its calls at once (a Go guest costs 4-7 MiB)"),
	field("max_calls_per_instance", func(l *Limits) *int { return &l.MaxCallsPerInstance },
		100_000, 1, 1_000_000_000, "", "calls after which an instance is recycled (guest memory never shrinks)"),
	// Out-calls (grant "http"): a callback's out-calls wait within
	// OpenIM's own timeout, so a few are all a callback can afford.
	field("max_out_calls", func(l *Limits) *int { return &l.MaxOutCalls },
		4, 1, 100, "", "HTTP out-calls one call may make (grant http)"),
	field("out_call_timeout", func(l *Limits) *time.Duration { return &l.OutCallTimeout },
		int64(time.Second), int64(time.Millisecond), int64(time.Minute), "duration", "longest wait for one out-call, also cut at what is left of the callback's deadline"),
	field("max_out_request_bytes", func(l *Limits) *int { return &l.MaxOutRequestBytes },
		64*kib, 1, 16*mib, "", "largest request body of an out-call"),
	field("max_out_response_bytes", func(l *Limits) *int { return &l.MaxOutResponseBytes },
		mib, 1, 64*mib, "", "largest response body of an out-call; a longer one fails the out-call"),
	field("max_out_concurrency", func(l *Limits) *int { return &l.MaxOutConcurrency },
		16, 1, 1024, "", "out-calls of one tenant in flight at once; one more fails at once"),
	field("max_out_idle_conns", func(l *Limits) *int { return &l.MaxOutIdleConns },
		8, 1, 1024, "", "keep-alive connections to the tenant's services kept open per tenant"),
	// State quotas (docs/sdk.md, "State"): a tenant's whole keyspace, and
	// what one call may do to it. A key stays under bbolt's 32 KiB key
	// limit with the 8 bytes of its expiry index. A million keys of 16 bytes each fit in
	// 64 MiB of Redis; one call's operations are round trips within a
	// callback's deadline.
	field("max_kv_keys", func(l *Limits) *int64 { return &l.MaxKVKeys },
		10_000, 1, 10_000_000, "", "live keys in the tenant's state (grant kv)"),
	field("max_kv_bytes", func(l *Limits) *int64 { return &l.MaxKVBytes },
		16*mib, kib, 4<<30, "", "bytes of keys plus values in the tenant's state"),
	field("max_kv_key_bytes", func(l *Limits) *int { return &l.MaxKVKeyBytes },
		512, 16, 16*kib, "", "largest state key"),
	field("max_kv_value_bytes", func(l *Limits) *int { return &l.MaxKVValueBytes },
		64*kib, 16, 16*mib, "", "largest state value"),
	field("max_kv_ops", func(l *Limits) *int { return &l.MaxKVOps },
		100, 1, 100_000, "", "state operations one call may make"),
}

// Default returns the built-in value of every limit.
func Default() Limits {
	var l Limits
	for _, f := range Fields {
		f.set(&l, f.Default)
	}
	return l
}

// Or returns l with each zero field taken from base: a tenant's settings
// over the server's defaults, or anything over Default().
func (l Limits) Or(base Limits) Limits {
	for _, f := range Fields {
		if f.get(&l) == 0 {
			f.set(&l, f.get(&base))
		}
	}
	return l
}

// WithDefaults returns l with each zero field set to its built-in default.
func (l Limits) WithDefaults() Limits { return l.Or(Default()) }

// OutOfRange is a limit whose value is outside its field's range.
type OutOfRange struct {
	Field Field
	Value int64
}

// Want says what the field accepts.
func (e OutOfRange) Want() string {
	f := e.Field
	return fmt.Sprintf("want 0 (the default, %s) or %s to %s", f.Format(f.Default), f.Format(f.Min), f.Format(f.Max))
}

// Check returns every non-zero field of l outside its range.
func (l Limits) Check() []OutOfRange {
	var out []OutOfRange
	for _, f := range Fields {
		// Unsigned fields read back as negative when they overflow int64,
		// so they fail the lower bound.
		if v := f.get(&l); v != 0 && (v < f.Min || v > f.Max) {
			out = append(out, OutOfRange{f, v})
		}
	}
	return out
}

// Validate reports every field Check finds, each named by its key with
// prefix (such as "limits.") before it.
func (l Limits) Validate(prefix string) error {
	var errs []error
	for _, e := range l.Check() {
		errs = append(errs, fmt.Errorf("%s%s[%s]: %s", prefix, e.Field.Key, e.Field.Format(e.Value), e.Want()))
	}
	return errors.Join(errs...)
}

// legacyKeys are the JSON keys stored and accepted before the keys were
// made the same as the configuration's.
var legacyKeys = map[string]string{
	"instances":          "max_instances",
	"calls_per_instance": "max_calls_per_instance",
}

// UnmarshalJSON decodes Limits, accepting the keys used before the
// configuration and the API shared them ("instances",
// "calls_per_instance"), so documents stored by older versions and older
// clients lose nothing. The current key wins when both are present.
func (l *Limits) UnmarshalJSON(b []byte) error {
	type plain Limits
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return json.Unmarshal(b, (*plain)(l)) // the same error, with its type
	}
	renamed := false
	for old, key := range legacyKeys {
		if v, ok := raw[old]; ok {
			if _, cur := raw[key]; !cur {
				raw[key] = v
			}
			delete(raw, old)
			renamed = true
		}
	}
	if renamed {
		var err error
		if b, err = json.Marshal(raw); err != nil {
			return err
		}
	}
	return json.Unmarshal(b, (*plain)(l))
}

// Grants are the capabilities a tenant's plugins get beyond the ABI. The
// zero value grants nothing: the guest sees a fake clock and a deterministic
// random source, and has no filesystem, environment, arguments or network in
// any case.
type Grants struct {
	// Walltime gives the real wall clock. Without it the guest reads a fake
	// clock: 2022-01-01T00:00:00Z, advancing 1ms per reading.
	Walltime bool
	// Nanotime gives the real monotonic clock and real sleeps, still bounded
	// by the call's deadline. Without it the monotonic clock is fake and a
	// sleep returns at once, moving the fake clock forward.
	Nanotime bool
	// Random gives a cryptographic random source. Without it the source is
	// deterministic (every instance sees the same bytes).
	Random bool
	// HTTP lets plugins send out-calls (imhook.http) to the destinations of
	// the tenant's egress_allow, and read the tenant's secrets
	// (imhook.secret). Without it a module importing them is refused.
	HTTP bool
	// KV gives the tenant's key-value state (the kv_* host functions).
	// Without it a module importing them is refused at load.
	KV bool
}

// Grant names as stored in a tenant's settings and given to `imhook run
// --grants`.
const (
	GrantWalltime = "walltime"
	GrantNanotime = "nanotime"
	GrantRandom   = "random"
	GrantHTTP     = "http"
	GrantKV       = "kv"
)

// grantNames maps each grant name to its flag in Grants, in documentation
// order.
var grantNames = []struct {
	name string
	flag func(*Grants) *bool
}{
	{GrantWalltime, func(g *Grants) *bool { return &g.Walltime }},
	{GrantNanotime, func(g *Grants) *bool { return &g.Nanotime }},
	{GrantRandom, func(g *Grants) *bool { return &g.Random }},
	{GrantHTTP, func(g *Grants) *bool { return &g.HTTP }},
	{GrantKV, func(g *Grants) *bool { return &g.KV }},
}

// GrantNames returns every grant name.
func GrantNames() []string {
	out := make([]string, len(grantNames))
	for i, g := range grantNames {
		out[i] = g.name
	}
	return out
}

// ParseGrants turns grant names into Grants. An unknown or repeated name is
// an error that lists the valid ones.
func ParseGrants(names []string) (Grants, error) {
	var g Grants
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return Grants{}, fmt.Errorf("grant[%s]: listed twice", n)
		}
		seen[n] = true
		ok := false
		for _, gn := range grantNames {
			if gn.name == n {
				*gn.flag(&g), ok = true, true
			}
		}
		if !ok {
			return Grants{}, fmt.Errorf("grant[%q]: want one of %s", n, strings.Join(GrantNames(), ", "))
		}
	}
	return g, nil
}

// Has reports whether the grant named name is given.
func (g Grants) Has(name string) bool {
	for _, gn := range grantNames {
		if gn.name == name {
			return *gn.flag(&g)
		}
	}
	return false
}

// Names returns the names of the granted capabilities.
func (g Grants) Names() []string {
	var out []string
	for _, gn := range grantNames {
		if *gn.flag(&g) {
			out = append(out, gn.name)
		}
	}
	return out
}
