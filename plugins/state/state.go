// Package state is the per-tenant key-value state of plugins: the rules
// every backend shares (what a key may be, the quotas, the errors and their
// ABI statuses) and Tenant, the view of one tenant's keyspace that the host
// injects into the tenant's sandbox.
//
// Isolation is the backend's layout, not a prefix the guest chooses: a
// backend keeps each tenant's keys under the tenant's ID (a bbolt bucket, a
// Redis hash tag), and a Tenant is bound to one ID by the host, so no key a
// guest passes (separators, empty, huge, binary, a cursor of another
// tenant) names anything outside its own keyspace.
//
// The backends are packages of their own (boltstate, redisstate) so that
// this package, which the host and its tests import, stays stdlib-only; one
// conformance suite (statetest) runs against each.
package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// Error is a failure a guest can handle: its Status crosses the ABI
// (docs/abi.md, "Results and errors") and its message says what to do.
type Error struct {
	status abi.Status
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Status is the ABI status of the failure.
func (e *Error) Status() abi.Status { return e.status }

// Is makes errors.Is(err, ErrQuota) and friends match any Error of the same
// status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.status == e.status && t.msg == ""
}

// Sentinels for errors.Is; the errors returned carry a message as well.
var (
	ErrNotFound    = &Error{status: abi.StatusNotFound}
	ErrQuota       = &Error{status: abi.StatusQuota}
	ErrInvalid     = &Error{status: abi.StatusInvalid}
	ErrConflict    = &Error{status: abi.StatusConflict}
	ErrUnavailable = &Error{status: abi.StatusUnavailable}
)

// Errorf returns an Error of status with a formatted message.
func Errorf(status abi.Status, format string, args ...any) error {
	return &Error{status: status, msg: fmt.Sprintf(format, args...)}
}

// StatusOf maps err to the status a guest sees: an Error's own, timeout for
// a context that ended, unavailable for anything else (a store that failed).
func StatusOf(err error) abi.Status {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.status
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return abi.StatusTimeout
	}
	return abi.StatusUnavailable
}

// Quota bounds one tenant's keyspace. Zero fields are unlimited, which only
// tests use: the host fills every field from plugins/limits.
type Quota struct {
	MaxKeys       int64 // live keys
	MaxBytes      int64 // sum of len(key)+len(value) over live keys
	MaxKeyBytes   int   // one key
	MaxValueBytes int   // one value
}

// Entry is a stored value with its revision.
type Entry struct {
	Value []byte
	// Rev changes with every write of the key: Set, Add and CompareAndSet
	// give it a new one, greater than any before in the tenant's keyspace.
	Rev uint64
}

// Usage is what a tenant's keyspace holds, as the quota counts it. Keys
// whose TTL passed count until the backend sweeps them.
type Usage struct {
	Keys  int64
	Bytes int64
}

// Put is one conditional write.
type Put struct {
	Value []byte
	// TTL makes the key expire; 0 keeps it until deleted.
	TTL time.Duration
	// IfRev makes the write conditional: AnyRev writes in any case, 0 only
	// when the key does not exist, any other value only when the key's
	// revision is that one (else ErrConflict).
	IfRev int64
}

// AnyRev is Put.IfRev for an unconditional write.
const AnyRev = -1

// Backend stores every tenant's keyspace. Keys and quotas are checked by
// Tenant before a backend sees them; a backend enforces MaxKeys and MaxBytes
// atomically with the write (under concurrent writers, and across replicas
// for a shared backend), and returns Errors for the failures a guest can
// handle. Methods are safe for concurrent use.
type Backend interface {
	// Get returns the live entry, or ErrNotFound.
	Get(ctx context.Context, tenant string, key []byte) (Entry, error)
	// Put writes the key and returns its new revision.
	Put(ctx context.Context, tenant string, key []byte, p Put, q Quota) (uint64, error)
	// Delete removes the key; ErrNotFound when it did not exist.
	Delete(ctx context.Context, tenant string, key []byte) error
	// Add adds delta to the integer (decimal text) at key, creating it at
	// delta with ttl when it does not exist; ttl does not change an existing
	// key's expiry. ErrInvalid when the value is not an integer or the sum
	// overflows.
	Add(ctx context.Context, tenant string, key []byte, delta int64, ttl time.Duration, q Quota) (int64, error)
	// List returns up to limit live keys starting with prefix and greater
	// than after, in byte order.
	List(ctx context.Context, tenant string, prefix, after []byte, limit int) ([][]byte, error)
	// Usage returns what the tenant's keyspace holds.
	Usage(ctx context.Context, tenant string) (Usage, error)
	// DeleteTenant removes the tenant's whole keyspace.
	DeleteTenant(ctx context.Context, tenant string) error
	// Close releases the backend.
	Close() error
}

// MaxTTL bounds a TTL: ten years, far beyond any use, short of overflows.
const MaxTTL = 10 * 365 * 24 * time.Hour

// MaxListLimit bounds the keys of one List.
const MaxListLimit = 1000

// MaxListBytes bounds the key bytes of one List page (more when its first
// key alone is longer): a guest's kv_list output, an admin API answer.
const MaxListBytes = 256 << 10
