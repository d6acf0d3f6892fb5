package host

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/imhook/imhook/host/admin"
)

// Replicas sharing a Redis store announce what they serve (issue 13), so an
// operator sees per replica which version of each plugin serves.
const (
	announceEvery = 5 * time.Second       // refresh, even without changes
	announceTTL   = 3 * announceEvery     // a replica gone silent drops out after this
	announceDelay = 20 * time.Millisecond // coalesces the publishes of one sync
)

// announce publishes this replica's serving state whenever the directory
// publishes a new snapshot, and every announceEvery, until ctx ends or the
// server shuts down; then it withdraws it.
func (s *Server) announce(ctx context.Context) {
	defer close(s.announced)
	tick := time.NewTicker(announceEvery)
	defer tick.Stop()
	for {
		changed := s.dir.Published()
		actx, cancel := context.WithTimeout(context.Background(), time.Second)
		state, _ := json.Marshal(s.replicaState())
		_ = s.shared.Announce(actx, s.replicaID, state, announceTTL) // the store's health is logged by the poll
		cancel()
		select {
		case <-ctx.Done():
		case <-s.quit:
		case <-changed:
			time.Sleep(announceDelay)
			continue
		case <-tick.C:
			continue
		}
		wctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.shared.Withdraw(wctx, s.replicaID)
		cancel()
		return
	}
}

// replicaState is what this replica announces.
func (s *Server) replicaState() admin.ReplicaState {
	st := s.shared.Status()
	return admin.ReplicaState{
		ID: s.replicaID, Admin: addrString(s.AdminAddr()),
		Ready: s.dir.Ready() && !s.stopping.Load(), Store: st.State,
		Applied: s.dir.Applied(), At: time.Now().UTC(), Tenants: s.dir.Serving(),
	}
}

// replicas reads every replica's announcement, sorted by ID.
func (s *Server) replicas(ctx context.Context) ([]admin.ReplicaState, error) {
	raw, err := s.shared.Replicas(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]admin.ReplicaState, 0, len(raw))
	for id, b := range raw {
		var rs admin.ReplicaState
		if json.Unmarshal(b, &rs) != nil {
			rs = admin.ReplicaState{ID: id, Store: "unreadable announcement"}
		}
		out = append(out, rs)
	}
	slices.SortFunc(out, func(a, b admin.ReplicaState) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// replicaVersions returns, by replica, the version of each of tenant's
// plugins serving there (admin.Options.Replicas).
func (s *Server) replicaVersions(ctx context.Context, tenant string) map[string]map[string]string {
	rs, err := s.replicas(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]map[string]string, len(rs))
	for _, r := range rs {
		ps := r.Tenants[tenant]
		if ps == nil {
			ps = map[string]string{}
		}
		out[r.ID] = ps
	}
	return out
}

// storeControl is admin.Store for the Redis backend.
type storeControl struct{ s *Server }

// Report implements admin.Store.
func (c storeControl) Report(ctx context.Context) (admin.StoreReport, error) {
	rep := admin.StoreReport{Replica: c.s.replicaID, Store: c.s.shared.Status()}
	rs, err := c.s.replicas(ctx)
	if err != nil {
		rep.ReplicasError = err.Error()
	}
	rep.Replicas = rs
	if rep.Replicas == nil {
		rep.Replicas = []admin.ReplicaState{}
	}
	return rep, nil
}

// AcceptLoss implements admin.Store.
func (c storeControl) AcceptLoss(ctx context.Context, revision uint64) (admin.StoreReport, error) {
	if _, err := c.s.shared.AcceptLoss(ctx, revision); err != nil {
		return admin.StoreReport{}, err
	}
	return c.Report(ctx)
}
