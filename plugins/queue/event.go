// Package queue holds after-callbacks until a tenant's plugins have
// processed them: durable enqueue (the webhook answers OpenIM once it
// returns), workers that serve tenants fairly, retries with exponential
// backoff and jitter, and dead letters kept with their last error.
//
// The queue knows no OpenIM and no sandbox: an Event is a tenant, a command
// name and bytes, and the host injects the function that processes one
// (Options.Process). Where events are kept is a Store; plugins/store/boltqueue
// (one bbolt file, group commit) and plugins/store/redisqueue (Redis Streams,
// shared by replicas) implement it, and queuetest is the one conformance
// suite both pass.
//
// # Guarantee
//
// At least once: an event Enqueue accepted is processed until Process
// reports success or the event is dead-lettered, across crashes of the
// process. A crash between Process and the store's ack runs the event again,
// so a plugin sees the same Event.ID more than once (with a higher Attempt
// after a failure) and must be idempotent. Per tenant, first attempts are
// claimed in the order Enqueue returned; a retried event runs when its
// backoff is over, after events enqueued later.
package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Event is one enqueued callback. The queue treats Command and Body as
// opaque.
type Event struct {
	// ID is stable across attempts: 32 hex digits, the enqueue time in
	// milliseconds then random bits (NewID). A plugin keys its
	// idempotence on it.
	ID string
	// Tenant, Command and Body are what was enqueued.
	Tenant  string
	Command string
	Body    []byte
	// Enqueued is when Enqueue accepted the event.
	Enqueued time.Time
	// Attempt is 1 for the first delivery and grows by one per retry.
	Attempt int
	// NotBefore is when a retried event is due again (zero: at once).
	NotBefore time.Time
	// LastError is the failure of the previous attempt ("" before any).
	LastError string
	// Died is when the event was dead-lettered (dead letters only).
	Died time.Time

	// Handle is the store's own reference to a claimed event (a stream
	// entry ID, a key); the queue passes it back unchanged.
	Handle string
}

// NewID returns a fresh event ID: 12 hex digits of the time in milliseconds
// (so IDs sort roughly by enqueue time) and 20 of randomness.
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID returns, so that an ID from
// an API request can be used as a key.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// DiedError starts the LastError a store gives an event whose begun
// delivery ended with the process (Store.Begin).
const DiedError = "the process died while running this event"

// Errors of a Store and of Queue.Enqueue.
var (
	// ErrFull: the tenant's queue holds its maximum of pending events.
	ErrFull = errors.New("queue full")
	// ErrNotFound: no such (dead) event.
	ErrNotFound = errors.New("no such event")
	// ErrClosed: the queue or store is closed.
	ErrClosed = errors.New("queue closed")
)

// FullError is the error of an Enqueue refused because the tenant's queue is
// full; errors.Is(err, ErrFull) holds.
type FullError struct {
	Tenant string
	Depth  int
}

func (e *FullError) Error() string {
	return fmt.Sprintf("queue of tenant[%s] is full: %d events wait (queue.max_depth); they drain as its plugins process them, or the tenant's plugins are failing", e.Tenant, e.Depth)
}

func (e *FullError) Is(target error) bool { return target == ErrFull }

// MarshalBinary encodes every field but Handle, for stores that keep an
// event as one value.
func (e *Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(nil), nil
}

// codecVersion starts every encoded event.
const codecVersion = 1

// AppendBinary appends the encoding MarshalBinary returns.
func (e *Event) AppendBinary(b []byte) []byte {
	b = append(b, codecVersion)
	b = appendString(b, e.ID)
	b = appendString(b, e.Tenant)
	b = appendString(b, e.Command)
	b = appendString(b, string(e.Body))
	b = binary.AppendVarint(b, unixNano(e.Enqueued))
	b = binary.AppendUvarint(b, uint64(e.Attempt))
	b = binary.AppendVarint(b, unixNano(e.NotBefore))
	b = appendString(b, e.LastError)
	b = binary.AppendVarint(b, unixNano(e.Died))
	return b
}

// UnmarshalBinary decodes what AppendBinary wrote; Handle is left as is.
func (e *Event) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if v := d.byte(); v != codecVersion && d.err == nil {
		return fmt.Errorf("queue: event encoding version %d, want %d", v, codecVersion)
	}
	e.ID = d.string()
	e.Tenant = d.string()
	e.Command = d.string()
	e.Body = []byte(d.string())
	e.Enqueued = fromNano(d.varint())
	e.Attempt = int(d.uvarint())
	e.NotBefore = fromNano(d.varint())
	e.LastError = d.string()
	e.Died = fromNano(d.varint())
	if d.err != nil {
		return fmt.Errorf("queue: decode event: %w", d.err)
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errShort
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errShort
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
