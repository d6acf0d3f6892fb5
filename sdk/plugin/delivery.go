package plugin

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// Delivery describes one delivery of a queued after-callback. imhook
// answers OpenIM as soon as an after-callback is stored and runs the
// plugins from its queue, at least once: the same event may be delivered
// again (after a failure, or when imhook crashed before recording the
// success), always with the same ID. Key side effects on ID to make them
// idempotent.
type Delivery struct {
	// ID is the event's ID, the same on every attempt: 32 hex digits.
	ID string
	// Attempt is 1 for the first delivery, 2 for the first retry...
	Attempt int
}

// deliveryHost is the part of the host that serves queued deliveries
// (abi.FuncDelivery, abi.FuncRetry). Every imhook that runs ABI v1 with
// queues provides it; a host that does not is treated as never delivering
// from a queue.
type deliveryHost interface {
	delivery(dst []byte) int
	retry(delayMS int64) int
}

// Delivery returns the current delivery when the callback runs from
// imhook's queue, and false when it runs inline (a before-callback, a
// tenant that chose inline after-callbacks, a dry run).
func (c *Context) Delivery() (Delivery, bool) {
	h, ok := c.host.(deliveryHost)
	if !ok {
		return Delivery{}, false
	}
	var buf [64]byte
	b := buf[:]
	n := h.delivery(b)
	if n > len(b) {
		// An ID longer than imhook's: ask again with room for it.
		b = make([]byte, n)
		n = h.delivery(b)
	}
	if n < abi.DeliveryHeader || n > len(b) {
		return Delivery{}, false
	}
	return Delivery{Attempt: int(binary.LittleEndian.Uint32(b)), ID: string(b[abi.DeliveryHeader:n])}, true
}

// retryError is an error a handler returns to ask for a retry.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Retry marks err as worth retrying: when the handler of a queued
// after-callback returns it (or an error wrapping it), imhook delivers the
// event again after a backoff, up to the tenant's queue.max_attempts, then
// keeps it as a dead letter with its last error. Use it for failures that
// may pass: an out-call that timed out, a service that answered 503.
//
// A handler error not marked is permanent: the event becomes a dead letter
// at once (the operator can retry it with `imhook queue dead retry`). A
// trap or a limit (CPU, memory) is retried without marking. Outside a
// queued delivery Retry changes nothing: the error is the handler's error.
func Retry(err error) error {
	if err == nil {
		return nil
	}
	retryHook = askRetry
	return &retryError{err: err}
}

// RetryAfter is Retry with a least delay before the next attempt, for a
// service that said when to come back (a Retry-After header). imhook caps
// it at its queue.max_backoff.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	retryHook = askRetry
	return &retryError{err: err, after: max(d, 0)}
}

// retryHook is askRetry once the plugin called Retry or RetryAfter, which
// the dispatch calls with every handler error. Only those two functions
// refer to askRetry, so a plugin that never asks for a retry does not
// import abi.FuncRetry (the linker drops it) and loads in hosts without it.
var retryHook func(c *Context, err error)

// askRetry tells the host that the delivery should be retried when err
// asks for it (through retryHook).
func askRetry(c *Context, err error) {
	var re *retryError
	if !errors.As(err, &re) {
		return
	}
	if h, ok := c.host.(deliveryHost); ok {
		h.retry(re.after.Milliseconds())
	}
}
