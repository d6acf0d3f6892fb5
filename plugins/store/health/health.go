// Package health names the states of a shared store (Redis) and the
// errors its stores return in them, so that the registry, the plugin state
// and the queue on one Redis report one state the same way. It uses the
// standard library only: the registry and the admin API import it without
// importing Redis.
package health

import (
	"errors"
	"time"
)

// States of a shared store (Status.State).
const (
	OK          = "ok"          // the store answers and holds everything seen before
	Unreachable = "unreachable" // the store does not answer; serving goes on from what is loaded
	Lost        = "lost"        // the store lost data; only an operator ends this
)

var (
	// ErrDataLost means the shared store was found to have lost data this
	// process (or another replica) had seen. Writes to every store on it
	// (registry, plugin state, queue) are refused until an operator accepts
	// (docs/deploy.md, "When Redis lost data").
	ErrDataLost = errors.New("store lost data")

	// ErrUnavailable means the store did not answer. Nothing was changed;
	// retry later.
	ErrUnavailable = errors.New("store unavailable")

	// ErrNothingLost is the error of an acceptance while the store has not
	// lost data.
	ErrNothingLost = errors.New("the store has not lost data")

	// ErrWrongRevision is the error of an acceptance naming a revision the
	// store does not hold (or one that changed meanwhile).
	ErrWrongRevision = errors.New("the store holds another revision")
)

// Status is the health of a shared store as one process sees it. It is
// JSON-encodable: the admin API and /readyz show it.
type Status struct {
	// State is OK, Unreachable or Lost. Lost data wins over unreachable:
	// it lasts until an operator acts.
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
	// Lost describes the loss while State is Lost.
	Lost *Loss `json:"lost,omitempty"`
	// Refused counts the writes this process refused because the store lost
	// data, by store ("registry", "state", "queue"), since it started.
	Refused map[string]uint64 `json:"refused,omitempty"`
}

// Loss records a shared store found to have gone back: the revision seen
// before and the one found.
type Loss struct {
	Seen       uint64    `json:"seen"`
	Found      uint64    `json:"found"`
	DetectedAt time.Time `json:"detected_at"`
	DetectedBy string    `json:"detected_by"`
}
