package registry

import (
	"context"

	"github.com/imhook/imhook/plugins/store/health"
)

// States of a shared store (StoreStatus.State): package health's, so that
// the registry, the plugin state and the queue on one Redis report one state.
const (
	StoreOK          = health.OK          // the store answers and holds everything seen before
	StoreUnreachable = health.Unreachable // the store does not answer; serving goes on from what is loaded
	StoreLost        = health.Lost        // the store lost data; only an operator ends this (Monitored.AcceptLoss)
)

// StoreStatus is the health of a shared store as one process sees it
// (health.Status). It is JSON-encodable: the admin API and /readyz show it.
type StoreStatus = health.Status

// Loss records a shared store found to have gone back: the revision seen
// before and the one found.
type Loss = health.Loss

// Monitored is implemented by shared backends (Redis) that follow their own
// health. Callbacks never wait on it: Status reads memory.
type Monitored interface {
	// Status returns the store's health as of the last poll.
	Status() StoreStatus
	// AcceptLoss ends the lost-data state on every replica, for every store
	// on the shared Redis: the operator has restored the store or decided to
	// start over from what it holds now. revision must be the store's
	// current revision (Status().Revision, shown by the admin API), so an
	// acceptance is of a state the operator looked at; otherwise it fails
	// with ErrConflict. It fails with ErrInvalid when the store has not lost
	// data.
	AcceptLoss(ctx context.Context, revision uint64) (StoreStatus, error)
}
