package queue

import (
	"context"
	"time"
)

// Store keeps events durably. Every method is safe for concurrent use.
// queuetest.Run is the behaviour every Store must show.
//
// An event is pending from Enqueue until Ack or Bury: ready (due now),
// delayed (a retry whose NotBefore is in the future) or claimed (handed to a
// worker by Claim). A claim ends with Ack, Retry or Bury; a claim whose
// holder died (the process crashed) ends when the store notices: at the next
// Open for a store one process owns, after a lease for a shared one. Then
// the event is ready again with the same ID; when its delivery had begun
// (Begin), the dead delivery counts as an attempt: Attempt is one more and
// LastError says the process died (DiedError), so an event that kills the
// process every time it runs is dead-lettered after the tenant's
// MaxAttempts instead of being redelivered forever.
type Store interface {
	// Enqueue stores ev as a new ready event of ev.Tenant (ID, Tenant,
	// Command, Body and Enqueued set, Attempt 1) and returns once it is
	// durable: a crash after Enqueue returned loses nothing. It returns a
	// *FullError when the tenant already holds maxDepth pending events.
	Enqueue(ctx context.Context, ev *Event, maxDepth int) error

	// Claim hands out up to n of tenant's events that are due at now and
	// not claimed: ready events in the order Enqueue returned, a retry when
	// its NotBefore has passed. It returns none (and no error) when there
	// are none.
	Claim(ctx context.Context, tenant string, n int, now time.Time) ([]*Event, error)

	// Begin records durably that a delivery of the claimed ev starts, and
	// returns once that is durable; the queue calls it right before it runs
	// the event. A claim that then ends without Ack, Retry or Bury (the
	// process died while running it) counts as a used attempt.
	Begin(ctx context.Context, ev *Event) error

	// Ack ends a claim: the event is processed and forgotten. Acking an
	// event that is no longer claimed by this store does nothing.
	Ack(ctx context.Context, ev *Event) error

	// Retry ends a claim: the event becomes due again at ev.NotBefore with
	// ev.Attempt and ev.LastError as the caller set them. With Attempt
	// unchanged it hands the event back unused (a shutdown cut the
	// delivery short): the begun delivery does not count.
	Retry(ctx context.Context, ev *Event) error

	// Bury ends a claim: the event becomes a dead letter with ev.LastError
	// and ev.Died. When the tenant then holds more than maxDead dead
	// letters, the oldest are discarded; Bury returns how many.
	Bury(ctx context.Context, ev *Event, maxDead int) (discarded int, err error)

	// Tenants lists the tenants that have pending events.
	Tenants(ctx context.Context) ([]string, error)

	// Stats counts a tenant's events.
	Stats(ctx context.Context, tenant string) (Stats, error)

	// Dead lists a tenant's dead letters oldest first, up to limit, starting
	// after the one with ID after ("" from the first).
	Dead(ctx context.Context, tenant, after string, limit int) ([]*Event, error)
	// DeadEvent returns one dead letter, or ErrNotFound.
	DeadEvent(ctx context.Context, tenant, id string) (*Event, error)
	// Revive makes a dead letter a ready event again, at the end of the
	// tenant's queue, with Attempt 1 and its ID and LastError kept. It
	// returns ErrNotFound when there is no such dead letter.
	Revive(ctx context.Context, tenant, id string) error
	// Purge deletes one dead letter (id set) or all of a tenant's (id ""),
	// and returns how many.
	Purge(ctx context.Context, tenant, id string) (int, error)

	// DeleteTenant removes everything the store holds of tenant: pending
	// events (claims included) and dead letters. The host calls it when the
	// tenant is deleted.
	DeleteTenant(ctx context.Context, tenant string) error

	// Close releases the store. Claims not ended are not acked: after a
	// reopen the events are delivered again.
	Close() error
}

// Stats are a tenant's events at one moment.
type Stats struct {
	// Pending is every event not yet processed: Ready + Delayed + Claimed.
	Pending int `json:"pending"`
	Ready   int `json:"ready"`
	Delayed int `json:"delayed"`
	// Claimed is the events being delivered now (by any replica).
	Claimed int `json:"in_flight"`
	Dead    int `json:"dead"`
	// Oldest is when the oldest pending event was enqueued (zero: none).
	Oldest time.Time `json:"-"`
}
