package admin

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/registry"
)

// Queue is what the admin API needs of the after-callback queue
// (*queue.Queue implements it): GET .../queue and the dead-letter routes.
type Queue interface {
	Stats(ctx context.Context, tenant string) (queue.TenantStats, error)
	Store() queue.Store
	Revive(ctx context.Context, tenant, id string) error
	// DeleteTenant removes a deleted tenant's events and dead letters.
	DeleteTenant(ctx context.Context, tenant string) error
}

// QueueStats is a tenant's after-callback queue (GET .../queue).
type QueueStats struct {
	Tenant string `json:"tenant"`
	// Mode is "queued" (after-callbacks answered once stored, run from the
	// queue) or "inline" (the tenant's settings queue.inline).
	Mode string `json:"mode"`
	// Pending is every event not processed yet: Ready + Delayed + InFlight,
	// all replicas.
	Pending  int `json:"pending"`
	Ready    int `json:"ready"`
	Delayed  int `json:"delayed"`
	InFlight int `json:"in_flight"`
	Dead     int `json:"dead"`
	// OldestAgeSeconds is how long the oldest pending event has waited.
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	// InFlightHere is the deliveries running in the replica that answered.
	InFlightHere int `json:"in_flight_here"`
	// Counts are that replica's counters since it started.
	Counts queue.Counts `json:"counts"`
}

// DeadLetter is an event kept after its last failed delivery.
type DeadLetter struct {
	ID         string    `json:"id"`
	Command    string    `json:"command"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	DiedAt     time.Time `json:"died_at"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"last_error"`
	// Body is the callback as OpenIM sent it; only GET .../dead/{event}
	// includes it.
	Body string `json:"body,omitempty"`
}

// DeadLetterList is one page of dead letters, oldest first.
type DeadLetterList struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Next is the after of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// QueueChange says how many dead letters a retry or purge touched.
type QueueChange struct {
	Count int `json:"count"`
}

// Bounds of GET .../queue/dead.
const (
	defaultDeadPage = 100
	maxDeadPage     = 1000
)

func (a *API) needQueue(r *request) (Queue, error) {
	if _, err := a.readTenant(r); err != nil {
		return nil, err
	}
	if a.queue == nil {
		return nil, apiErrorf(fasthttp.StatusNotFound, "this server runs without the after-callback queue")
	}
	return a.queue, nil
}

// queueError maps the queue's errors.
func queueError(err error, id string) error {
	if errors.Is(err, queue.ErrNotFound) {
		return apiErrorf(fasthttp.StatusNotFound, "no dead letter[%s]; imhook queue dead list shows them", id)
	}
	return err
}

func (a *API) getQueue(r *request) error {
	q, err := a.needQueue(r)
	if err != nil {
		return err
	}
	doc, err := a.readTenant(r)
	if err != nil {
		return err
	}
	st, err := q.Stats(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	out := QueueStats{Tenant: r.tenant, Mode: "queued", Pending: st.Pending, Ready: st.Ready, Delayed: st.Delayed,
		InFlight: st.Claimed, Dead: st.Dead, OldestAgeSeconds: st.OldestAgeSeconds, InFlightHere: st.InFlightHere, Counts: st.Counts}
	if doc.Settings.Queue.Inline {
		out.Mode = "inline"
	}
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

func deadLetter(ev *queue.Event, body bool) DeadLetter {
	d := DeadLetter{ID: ev.ID, Command: ev.Command, EnqueuedAt: ev.Enqueued.UTC(), DiedAt: ev.Died.UTC(),
		Attempts: ev.Attempt, LastError: ev.LastError}
	if body {
		d.Body = string(ev.Body)
	}
	return d
}

func (a *API) listDead(r *request) error {
	q, err := a.needQueue(r)
	if err != nil {
		return err
	}
	args := r.rc.QueryArgs()
	limit := defaultDeadPage
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxDeadPage {
			return apiErrorf(fasthttp.StatusBadRequest, "limit[%s]: want 1 to %d", v, maxDeadPage)
		}
		limit = n
	}
	after := string(args.Peek("after"))
	if after != "" && !queue.ValidID(after) {
		return apiErrorf(fasthttp.StatusBadRequest, "after[%s]: want an event ID (32 hex digits) from the previous page's next", after)
	}
	evs, err := q.Store().Dead(r.ctx, r.tenant, after, limit+1)
	if err != nil {
		return queueError(err, after)
	}
	out := DeadLetterList{DeadLetters: []DeadLetter{}}
	for i, ev := range evs {
		if i == limit {
			out.Next = evs[i-1].ID
			break
		}
		out.DeadLetters = append(out.DeadLetters, deadLetter(ev, false))
	}
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

// deadLetterRoute returns the tenant's queue and the checked {event} parameter
// of a route on one dead letter.
func (a *API) deadLetterRoute(r *request) (Queue, string, error) {
	q, err := a.needQueue(r)
	if err != nil {
		return nil, "", err
	}
	if !queue.ValidID(r.event) {
		return nil, "", apiErrorf(fasthttp.StatusNotFound, "no dead letter[%s]: event IDs are 32 hex digits", r.event)
	}
	return q, r.event, nil
}

func (a *API) getDead(r *request) error {
	q, id, err := a.deadLetterRoute(r)
	if err != nil {
		return err
	}
	ev, err := q.Store().DeadEvent(r.ctx, r.tenant, id)
	if err != nil {
		return queueError(err, id)
	}
	writeJSON(r.rc, fasthttp.StatusOK, deadLetter(ev, true))
	return nil
}

func (a *API) retryDead(r *request) error {
	q, id, err := a.deadLetterRoute(r)
	if err != nil {
		return err
	}
	if err := q.Revive(r.ctx, r.tenant, id); err != nil {
		return queueError(err, id)
	}
	a.log.Info("dead letter retried", "tenant", r.tenant, "event_id", id, "by", r.who.String())
	writeJSON(r.rc, fasthttp.StatusOK, QueueChange{Count: 1})
	return nil
}

func (a *API) retryAllDead(r *request) error {
	q, err := a.needQueue(r)
	if err != nil {
		return err
	}
	// The dead letters present now, each revived once: a revived event
	// that fails again is a dead letter again, and listing from the start
	// after each page would find it there and revive it forever.
	var ids []string
	for after := ""; ; {
		evs, err := q.Store().Dead(r.ctx, r.tenant, after, maxDeadPage)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			ids = append(ids, ev.ID)
		}
		if len(evs) < maxDeadPage {
			break
		}
		after = evs[len(evs)-1].ID
	}
	n := 0
	for _, id := range ids {
		if err := q.Revive(r.ctx, r.tenant, id); err != nil {
			if errors.Is(err, queue.ErrNotFound) {
				continue // purged or retried meanwhile
			}
			return err
		}
		n++
	}
	a.log.Info("dead letters retried", "tenant", r.tenant, "count", n, "by", r.who.String())
	writeJSON(r.rc, fasthttp.StatusOK, QueueChange{Count: n})
	return nil
}

func (a *API) purgeDead(r *request) error {
	q, id, err := a.deadLetterRoute(r)
	if err != nil {
		return err
	}
	n, err := q.Store().Purge(r.ctx, r.tenant, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return queueError(queue.ErrNotFound, id)
	}
	a.log.Info("dead letter purged", "tenant", r.tenant, "event_id", id, "by", r.who.String())
	writeJSON(r.rc, fasthttp.StatusOK, QueueChange{Count: n})
	return nil
}

func (a *API) purgeAllDead(r *request) error {
	q, err := a.needQueue(r)
	if err != nil {
		return err
	}
	n, err := q.Store().Purge(r.ctx, r.tenant, "")
	if err != nil {
		return err
	}
	a.log.Info("dead letters purged", "tenant", r.tenant, "count", n, "by", r.who.String())
	writeJSON(r.rc, fasthttp.StatusOK, QueueChange{Count: n})
	return nil
}

// readTenant returns the path's tenant for a route that reads the queue or
// the state. While the shared store is in the lost-data state the registry
// cannot say what the tenant is; the operator's reads (GET) then go on with
// the tenant's ID alone and its default settings, and answer what the
// stores hold now, with the header Imhook-Store-State (host.Server) saying
// what that is. Every other request fails as the registry does.
func (a *API) readTenant(r *request) (*registry.Tenant, error) {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if errors.Is(err, registry.ErrDataLost) && r.who.operator && (r.rc.IsGet() || r.rc.IsHead()) {
		return &registry.Tenant{ID: r.tenant}, nil
	}
	return t, err
}
