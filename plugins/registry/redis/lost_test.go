package redis_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/redis"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// openReplica opens a backend as a replica would: with a seen file in dir
// and a logger.
func openReplica(t *testing.T, cfg redisdb.Config, dir, id string) (*redis.Backend, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	b, err := redis.Open(t.Context(), cfg, redis.Options{
		SeenFile:  filepath.Join(dir, "registry-seen.json"),
		ReplicaID: id,
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, logs
}

// waitState polls b.Status until its state is want.
func waitState(t *testing.T, b *redis.Backend, want string) registry.StoreStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := b.Status()
		if s.State == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("store state %q (%s) 5s on, want %q", s.State, s.Reason, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDataLoss is the sequence of issue 13: Redis loses its data under
// running replicas, one replica restarts against the empty Redis, a new
// replica with an empty data directory starts, and writes are tried many
// times over. Nothing but the operator's AcceptLoss ends the lost state.
func TestDataLoss(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{}) // no persistence: a restart empties it
	ctx := t.Context()
	cfg := redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix(), PollInterval: 20 * time.Millisecond, DialTimeout: 200 * time.Millisecond}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, logsA := openReplica(t, cfg, dirA, "a")
	b, _ := openReplica(t, cfg, dirB, "b")
	ra, err := registry.New(ctx, a, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, _, err := ra.CreateTenant(ctx, "t"+string(rune('a'+i)), registry.Settings{}); err != nil {
			t.Fatal(err)
		}
	}
	seen, _ := a.Revision(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for b.Status().Seen < seen { // b has polled the newest revision (and will record it)
		if time.Now().After(deadline) {
			t.Fatalf("replica b saw revision %d, want %d", b.Status().Seen, seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Close() // b stops; its seen file holds the revision

	srv.Restart() // without persistence: Redis is empty

	st := waitState(t, a, registry.StoreLost)
	if st.Lost.Seen != seen || st.Lost.Found != 0 {
		t.Errorf("loss = %+v, want seen %d found 0", st.Lost, seen)
	}
	if !strings.Contains(logsA.String(), "store lost data") {
		t.Errorf("replica a logged no loss:\n%s", logsA)
	}
	if _, err := ra.Tenants(ctx); !errors.Is(err, registry.ErrDataLost) {
		t.Errorf("Tenants in the lost state: err %v, want ErrDataLost (an empty list would be a lie)", err)
	}

	// b restarts with its data directory; c is a new replica with none.
	// Both must refuse: b from its seen file, c from the marker a wrote.
	b2, _ := openReplica(t, cfg, dirB, "b")
	if s := b2.Status(); s.State != registry.StoreLost {
		t.Fatalf("restarted replica b: state %q, want lost (its seen file says %d)", s.State, seen)
	}
	c, _ := openReplica(t, cfg, t.TempDir(), "c")
	if s := c.Status(); s.State != registry.StoreLost {
		t.Fatalf("new replica c: state %q, want lost (the marker)", s.State)
	}
	rc, err := registry.New(ctx, c, registry.Options{})
	if err != nil {
		t.Fatalf("registry.New on a store that lost data: %v (it must open, to report and to accept)", err)
	}
	for i := range 60 { // past the revision seen before, had they succeeded
		_, _, err := rc.CreateTenant(ctx, "n"+string(rune('a'+i%26))+string(rune('a'+i/26)), registry.Settings{})
		if !errors.Is(err, registry.ErrDataLost) {
			t.Fatalf("write %d in the lost state: err %v, want ErrDataLost", i, err)
		}
		if !strings.Contains(err.Error(), "imhook store accept") {
			t.Fatalf("the error does not say what to do: %v", err)
		}
	}
	// The marker gone (Redis lost data again, or someone deleted it by
	// hand): the replicas put it back; still nothing ends the state.
	srv.Restart()
	time.Sleep(100 * time.Millisecond) // several polls
	for _, r := range []*redis.Backend{a, b2, c} {
		if s := r.Status(); s.State != registry.StoreLost {
			t.Fatalf("after a second loss: state %q, want lost", s.State)
		}
	}

	// The operator accepts: first naming a revision Redis does not hold.
	if _, err := c.AcceptLoss(ctx, 7); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("AcceptLoss(wrong revision) = %v, want ErrConflict", err)
	}
	wa := a.Watch(ctx) // before the acceptance: a may adopt it at once
	st, err = c.AcceptLoss(ctx, 0)
	if err != nil || st.State != registry.StoreOK {
		t.Fatalf("AcceptLoss(0) = %+v, %v", st, err)
	}
	waitState(t, a, registry.StoreOK)
	waitState(t, b2, registry.StoreOK)
	select {
	case <-wa:
	case <-time.After(5 * time.Second):
		t.Fatal("replica a's watchers were not told to reload after the acceptance")
	}
	if !strings.Contains(logsA.String(), "accepted the lost data") {
		t.Errorf("replica a did not log the acceptance:\n%s", logsA)
	}
	if _, err := c.AcceptLoss(ctx, st.Revision); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("AcceptLoss with nothing lost = %v, want ErrInvalid", err)
	}
	// Writes work again, and revisions (ETags) are never reused.
	tn, _, err := ra.CreateTenant(ctx, "fresh", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if tn.Revision <= seen {
		t.Errorf("first revision after the acceptance = %d, want above the %d used before", tn.Revision, seen)
	}
}

// TestOutageLogged checks that an outage and the recovery are logged once
// each, and that a Redis that comes back with its data is not taken for
// one that lost it.
func TestOutageLogged(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	ctx := t.Context()
	cfg := redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix(), PollInterval: 20 * time.Millisecond, DialTimeout: 200 * time.Millisecond}
	a, logs := openReplica(t, cfg, t.TempDir(), "a")
	ra, err := registry.New(ctx, a, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ra.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	waitState(t, a, registry.StoreUnreachable)
	time.Sleep(100 * time.Millisecond)
	srv.Start()
	st := waitState(t, a, registry.StoreOK)
	if st.Seen == 0 || st.LastRead.IsZero() {
		t.Errorf("status after recovery = %+v", st)
	}
	out := logs.String()
	if n := strings.Count(out, "store unreachable"); n != 1 {
		t.Errorf("%d \"store unreachable\" lines, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "store reachable again"); n != 1 {
		t.Errorf("%d \"store reachable again\" lines, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "lost") {
		t.Errorf("a Redis that kept its data was reported as lost:\n%s", out)
	}
}
