package abi

// Host functions of queued after-callbacks (issue 15). An after-callback a
// tenant queues is delivered to its plugins at least once: the same event
// may run more than once, so a plugin reads the event's stable ID and the
// attempt number to be idempotent, and asks for a retry when its work
// failed for a reason that may pass.
const (
	// FuncDelivery is imported by the guest: (bufPtr i32, bufCap i32) -> i32.
	// It returns the length of the current delivery's description and
	// writes it at bufPtr when it fits (else take_result): the attempt
	// number (1 for the first delivery) as a little-endian uint32, then the
	// event ID (ASCII, stable across attempts). It returns StatusNotFound
	// when the call is not a queued delivery (an inline callback, a dry
	// run).
	FuncDelivery = "delivery"
	// FuncRetry is imported by the guest: (delayMs i64) -> i32.
	// It asks that the current delivery be retried when the call fails
	// (the guest returns an error): after at least delayMs milliseconds,
	// or the queue's backoff when 0. Without it a failing call's event is
	// dead-lettered at once. It returns 0, StatusNotFound when the call is
	// not a queued delivery, StatusInvalid for a negative delay.
	FuncRetry = "retry"
)

// DeliveryHeader is the length of FuncDelivery's fixed part (the attempt).
const DeliveryHeader = 4
