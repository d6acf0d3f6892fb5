package admin

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// Store is the shared store's health and the replicas' serving state, for
// GET /v1/store and POST /v1/store/accept. host.Server implements it for a
// Redis store; without one (a single node on bbolt) those routes answer 404.
type Store interface {
	// Report returns the store's health as this replica sees it and the
	// last announcement of every replica.
	Report(ctx context.Context) (StoreReport, error)
	// AcceptLoss ends the lost-data state on every replica
	// (registry.Monitored.AcceptLoss), then reports.
	AcceptLoss(ctx context.Context, revision uint64) (StoreReport, error)
}

// StoreReport is the body of GET /v1/store and POST /v1/store/accept.
type StoreReport struct {
	// Replica is the ID of the replica that answered.
	Replica string `json:"replica"`
	// Store is its view of the store.
	Store registry.StoreStatus `json:"store"`
	// Replicas are the replicas' own announcements, sorted by ID; a replica
	// that stopped announcing drops out within a TTL (15 s).
	Replicas []ReplicaState `json:"replicas"`
	// ReplicasError says why the announcements could not be read.
	ReplicasError string `json:"replicas_error,omitempty"`
}

// ReplicaState is what one replica announces: whether it serves, how far
// it has applied the registry, and which version of each plugin serves.
type ReplicaState struct {
	ID    string `json:"id"`
	Admin string `json:"admin,omitempty"` // its admin listener
	// Ready is its /readyz verdict: it has loaded the tenants and serves.
	Ready bool `json:"ready"`
	// Store is its store state (ok, unreachable, lost).
	Store string `json:"store"`
	// Applied is the registry revision its serving state is at least as new as.
	Applied uint64 `json:"applied"`
	// At is when it announced this.
	At time.Time `json:"at"`
	// Tenants maps tenant -> plugin -> hash of the version serving callbacks.
	Tenants map[string]map[string]string `json:"tenants"`
}

// acceptBody is the body of POST /v1/store/accept.
type acceptBody struct {
	// Revision must be the store's revision now (GET /v1/store,
	// store.revision): the operator accepts a state they looked at.
	Revision *uint64 `json:"revision"`
}

func (a *API) getStore(r *request) error {
	if a.store == nil {
		return apiErrorf(fasthttp.StatusNotFound, "this server has no shared store (store.backend is bolt); nothing to report")
	}
	rep, err := a.store.Report(r.ctx)
	if err != nil {
		return err
	}
	writeJSON(r.rc, fasthttp.StatusOK, rep)
	return nil
}

func (a *API) acceptLoss(r *request) error {
	if a.store == nil {
		return apiErrorf(fasthttp.StatusNotFound, "this server has no shared store (store.backend is bolt); nothing to accept")
	}
	var body acceptBody
	if err := decodeJSON(r.rc, maxJSONBytes, &body); err != nil {
		return err
	}
	if body.Revision == nil {
		return apiErrorf(fasthttp.StatusBadRequest, `body needs {"revision": N}, the store's revision now (GET /v1/store: store.revision)`)
	}
	rep, err := a.store.AcceptLoss(r.ctx, *body.Revision)
	if err != nil {
		return err
	}
	a.logChange(r, "lost data accepted: the registry as the store holds it now is the truth", "revision", rep.Store.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, rep)
	return nil
}
