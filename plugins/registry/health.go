package registry

import (
	"context"
	"time"
)

// States of a shared store (StoreStatus.State).
const (
	StoreOK          = "ok"          // the store answers and holds everything seen before
	StoreUnreachable = "unreachable" // the store does not answer; serving goes on from what is loaded
	StoreLost        = "lost"        // the store lost data; only an operator ends this (Monitored.AcceptLoss)
)

// StoreStatus is the health of a shared store as one process sees it. It is
// JSON-encodable: the admin API and /readyz show it.
type StoreStatus struct {
	// State is StoreOK, StoreUnreachable or StoreLost. Lost data wins over
	// unreachable: it lasts until an operator acts.
	State string `json:"state"`
	// Since is when State began.
	Since time.Time `json:"since"`
	// Reason says what is wrong and what to do; empty when State is ok.
	Reason string `json:"reason,omitempty"`
	// Revision is the store's revision counter at the last successful read.
	Revision uint64 `json:"revision"`
	// Seen is the newest revision this process has seen; it is kept across
	// restarts (a small file in the data directory), so a restarted replica
	// still notices a store that went back.
	Seen uint64 `json:"seen"`
	// Epoch counts the operator's acceptances of lost data (a timestamp, so
	// it only grows).
	Epoch uint64 `json:"epoch"`
	// LastRead is when the store last answered a poll.
	LastRead time.Time `json:"last_read"`
	// Tenants is how many tenant documents the store held at the last poll
	// in the lost state, for the operator deciding whether what a restore
	// brought back is right.
	Tenants *int64 `json:"tenants_in_store,omitempty"`
	// Lost describes the loss while State is StoreLost.
	Lost *Loss `json:"lost,omitempty"`
}

// Loss records a shared store found to have gone back: the revision seen
// before and the one found.
type Loss struct {
	Seen       uint64    `json:"seen"`
	Found      uint64    `json:"found"`
	DetectedAt time.Time `json:"detected_at"`
	DetectedBy string    `json:"detected_by"`
}

// Monitored is implemented by shared backends (Redis) that follow their own
// health. Callbacks never wait on it: Status reads memory.
type Monitored interface {
	// Status returns the store's health as of the last poll.
	Status() StoreStatus
	// AcceptLoss ends the lost-data state on every replica: the operator has
	// restored the store or decided to start over from what it holds now.
	// revision must be the store's current revision (Status().Revision,
	// shown by the admin API), so an acceptance is of a state the operator
	// looked at; otherwise it fails with ErrConflict. It fails with
	// ErrInvalid when the store has not lost data.
	AcceptLoss(ctx context.Context, revision uint64) (StoreStatus, error)
}
