package plugins

import (
	"context"
	"errors"
	"strconv"
)

// Kind says which limit or failure stopped a call. Every *CallError and
// *LoadError carries one; the host logs it, counts it and puts it in the errDlt
// of a fail-closed reply ("imhook: cpu_time").
type Kind uint8

// Kinds of failure. The zero Kind is never used for a real failure.
const (
	// KindCPUTime: the call (or _initialize) ran past its deadline and was stopped.
	KindCPUTime Kind = iota + 1
	// KindMemory: the guest ran out of linear memory under Limits.MemoryPages.
	KindMemory
	// KindInputSize: command plus body exceed Limits.MaxInputBytes; the guest was not entered.
	KindInputSize
	// KindOutputSize: the reply or error message exceeds Limits.MaxOutputBytes.
	KindOutputSize
	// KindLogBytes: the guest logged more than Limits.MaxLogBytes or
	// Limits.MaxLogLines in one call.
	KindLogBytes
	// KindInstances: no instance became free before the caller's deadline.
	KindInstances
	// KindTrap: the guest trapped (unreachable, a Go panic, a division by zero) or exited.
	KindTrap
	// KindBadReply: the guest broke the ABI (a pointer outside its memory, a buffer
	// smaller than asked for, bad arguments to a host function).
	KindBadReply
	// KindGuestError: the guest returned an error message (the error bit of the result).
	KindGuestError
	// KindClosed: the plugin was closed (hot swap or unload); retry on its successor.
	KindClosed
	// KindInvalidModule: the module failed validation at load.
	KindInvalidModule
	// KindBusy: no CPU slot became free in time (other calls held every
	// core; fair.go); the guest was not entered.
	KindBusy
	// KindBreakerOpen: the plugin's recent calls kept failing (cpu_time,
	// memory, trap), so it is not entered until its backoff ends
	// (breaker.go); the guest was not entered.
	KindBreakerOpen
)

var kindNames = [...]string{
	KindCPUTime:       "cpu_time",
	KindMemory:        "memory",
	KindInputSize:     "input_size",
	KindOutputSize:    "output_size",
	KindLogBytes:      "log_bytes",
	KindInstances:     "instances",
	KindTrap:          "trap",
	KindBadReply:      "bad_reply",
	KindGuestError:    "guest_error",
	KindClosed:        "closed",
	KindInvalidModule: "invalid_module",
	KindBusy:          "busy",
	KindBreakerOpen:   "breaker_open",
}

// String returns the snake_case name of k, for logs, metrics and replies.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Sentinel errors, one per Kind. errors.Is(err, ErrCPUTime) is true for a
// *CallError or *LoadError of that Kind. ErrCPUTime also matches
// context.DeadlineExceeded, so callers need not know about this package.
var (
	ErrCPUTime        = &kindError{KindCPUTime, "call exceeded its cpu time limit"}
	ErrMemoryLimit    = &kindError{KindMemory, "guest exceeded its memory limit"}
	ErrInputTooLarge  = &kindError{KindInputSize, "input exceeds the input size limit"}
	ErrOutputTooLarge = &kindError{KindOutputSize, "reply exceeds the output size limit"}
	ErrLogLimit       = &kindError{KindLogBytes, "guest exceeded its log bytes limit"}
	ErrNoInstance     = &kindError{KindInstances, "no plugin instance became free in time"}
	ErrTrap           = &kindError{KindTrap, "guest trapped"}
	ErrBadReply       = &kindError{KindBadReply, "guest broke the abi"}
	ErrGuestError     = &kindError{KindGuestError, "guest returned an error"}
	ErrClosed         = &kindError{KindClosed, "plugin is closed"}
	ErrInvalidModule  = &kindError{KindInvalidModule, "invalid plugin module"}
	ErrBusy           = &kindError{KindBusy, "no cpu slot became free in time"}
	ErrBreakerOpen    = &kindError{KindBreakerOpen, "plugin paused after repeated failures"}
)

// kindError is the type of the sentinels; comparing pointers keeps errors.Is cheap.
type kindError struct {
	kind Kind
	msg  string
}

func (e *kindError) Error() string { return e.msg }

// Is makes ErrCPUTime match context.DeadlineExceeded.
func (e *kindError) Is(target error) bool {
	return e.kind == KindCPUTime && target == context.DeadlineExceeded
}

// sentinel returns the sentinel error of k.
func (k Kind) sentinel() error {
	switch k {
	case KindCPUTime:
		return ErrCPUTime
	case KindMemory:
		return ErrMemoryLimit
	case KindInputSize:
		return ErrInputTooLarge
	case KindOutputSize:
		return ErrOutputTooLarge
	case KindLogBytes:
		return ErrLogLimit
	case KindInstances:
		return ErrNoInstance
	case KindTrap:
		return ErrTrap
	case KindBadReply:
		return ErrBadReply
	case KindGuestError:
		return ErrGuestError
	case KindClosed:
		return ErrClosed
	case KindInvalidModule:
		return ErrInvalidModule
	case KindBusy:
		return ErrBusy
	case KindBreakerOpen:
		return ErrBreakerOpen
	}
	return nil
}

// CallError is the error of every failed Plugin.Call. Kind says what happened;
// errors.Is(err, ErrXxx) matches the sentinel of that Kind, and Unwrap gives the
// underlying cause (a wazero trap with its wasm stack trace, the guest's own
// message for KindGuestError, ...).
type CallError struct {
	Kind    Kind
	Tenant  string
	Plugin  string
	Command string
	// Err is the cause; it may be nil when the Kind says it all.
	Err error
	// Stderr is what the guest wrote to stderr during the call (bounded to 4 KiB):
	// a Go guest's panic message and goroutine trace end up here.
	Stderr string
}

// Error implements error:
//
//	tenant[acme] plugin[antispam] command[callbackBeforeSendSingleMsgCommand]: cpu_time: call exceeded its cpu time limit: ...
func (e *CallError) Error() string {
	s := "tenant[" + e.Tenant + "] plugin[" + e.Plugin + "] command[" + e.Command + "]: " +
		e.Kind.String() + ": " + e.Kind.sentinel().Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *CallError) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e.Kind (or context.DeadlineExceeded
// for KindCPUTime).
func (e *CallError) Is(target error) bool {
	s := e.Kind.sentinel()
	return s != nil && (target == s || s.(*kindError).Is(target))
}

// LoadError is the error of Engine.Inspect and Tenant.Load when a module is
// refused. errors.Is(err, ErrInvalidModule) is always true; when the module was
// refused because _initialize hit a limit, errors.Is also matches that limit's
// sentinel (for example ErrCPUTime for a loop in _initialize).
type LoadError struct {
	Tenant string // empty for Engine.Inspect
	Plugin string // empty for Engine.Inspect
	Hash   string // sha256 hex of the module bytes
	// Kind is KindInvalidModule, or the limit hit while running _initialize.
	Kind Kind
	// Err says what was expected, for example
	// "export func[imhook_handle] has signature (i32)->i32, want (i32,i32)->i64".
	Err error
	// Stderr is what the guest wrote to stderr while it was instantiated.
	Stderr string
}

// Error implements error.
func (e *LoadError) Error() string {
	s := "invalid plugin module"
	if e.Tenant != "" {
		s = "tenant[" + e.Tenant + "] plugin[" + e.Plugin + "]: " + s
	}
	if e.Hash != "" {
		h := e.Hash
		if len(h) > 12 {
			h = h[:12]
		}
		s += " sha256[" + h + "]"
	}
	if e.Kind != KindInvalidModule && e.Kind != 0 {
		s += ": " + e.Kind.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *LoadError) Unwrap() error { return e.Err }

// Is matches ErrInvalidModule and the sentinel of e.Kind.
func (e *LoadError) Is(target error) bool {
	if target == ErrInvalidModule {
		return true
	}
	s := e.Kind.sentinel()
	return s != nil && (target == s || s.(*kindError).Is(target))
}

// KindOf returns the Kind of a *CallError or *LoadError in err's chain, or 0.
func KindOf(err error) Kind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	var le *LoadError
	if errors.As(err, &le) {
		return le.Kind
	}
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return 0
}
