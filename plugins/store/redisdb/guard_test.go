package redisdb_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/redis"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/redisstate"
	"github.com/imhook/imhook/plugins/store/health"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
	"github.com/imhook/imhook/plugins/store/redisqueue"
	"github.com/imhook/imhook/sdk/abi"
)

// replica is what one imhook process opens on the shared Redis: one Shared
// (client and guard) and the three stores on it.
type replica struct {
	db    *redisdb.Shared
	reg   *redis.Backend
	kv    *state.Tenant
	queue *redisqueue.Store
}

func openReplica(t *testing.T, cfg redisdb.Config, dir, id string) *replica {
	t.Helper()
	db, err := redisdb.OpenShared(t.Context(), cfg, redisdb.GuardOptions{SeenFile: filepath.Join(dir, "seen.json"), ReplicaID: id})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := redis.New(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	q, err := redisqueue.New(db.Client, redisqueue.Options{KeyPrefix: db.Config.KeyPrefix, Guard: db.Guard})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{db: db, reg: reg, queue: q,
		kv: state.NewTenant(redisstate.NewShared(db), "acme", state.Quota{}, nil)}
	t.Cleanup(func() { r.close() })
	return r
}

func (r *replica) close() {
	_ = r.queue.Close()
	_ = r.reg.Close()
	_ = r.db.Close()
}

func waitGuard(t *testing.T, r *replica, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a backstop, not a timing
	for r.db.Guard.Status().State != want {
		if time.Now().After(deadline) {
			t.Fatalf("guard state %q after 30s, want %q", r.db.Guard.Status().State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func event(tenant string) *queue.Event {
	now := time.Now()
	return &queue.Event{ID: queue.NewID(now), Tenant: tenant, Command: "cmd", Body: []byte("{}"), Enqueued: now, Attempt: 1}
}

// refusesWrites checks that every store of r refuses to write, saying why
// and what to do, and that reads still answer.
func refusesWrites(t *testing.T, r *replica, who string) {
	t.Helper()
	ctx := t.Context()
	lostKV := func(op string, err error) {
		t.Helper()
		if err == nil || state.StatusOf(err) != abi.StatusUnavailable || !strings.Contains(err.Error(), "lost data") || !strings.Contains(err.Error(), "imhook store accept") {
			t.Errorf("%s: KV %s in the lost state = %v; want an unavailable error saying Redis lost data and what to do", who, op, err)
		}
	}
	_, err := r.kv.Set(ctx, []byte("k"), []byte("v"), 0)
	lostKV("set", err)
	_, err = r.kv.Add(ctx, []byte("n"), 1, 0)
	lostKV("add", err)
	lostKV("delete", r.kv.Delete(ctx, []byte("k")))
	if err := r.queue.Enqueue(ctx, event("acme"), 100); !errors.Is(err, health.ErrDataLost) {
		t.Errorf("%s: queue append in the lost state = %v; want ErrDataLost", who, err)
	}
	if evs, err := r.queue.Claim(ctx, "acme", 1, time.Now()); !errors.Is(err, health.ErrDataLost) || len(evs) != 0 {
		t.Errorf("%s: queue claim in the lost state = %d events, %v; want ErrDataLost", who, len(evs), err)
	}
	if _, err := r.reg.Update(ctx, "acme", func(*registry.Tenant) (*registry.Tenant, error) { return &registry.Tenant{ID: "acme"}, nil }); !errors.Is(err, registry.ErrDataLost) {
		t.Errorf("%s: registry write in the lost state = %v; want ErrDataLost", who, err)
	}
	// Reads answer what Redis holds; the guard's status says what that is.
	if _, _, err := r.kv.Get(ctx, []byte("k")); state.StatusOf(err) != abi.StatusNotFound {
		t.Errorf("%s: KV get in the lost state = %v; want an answer (not found: Redis is empty)", who, err)
	}
	if _, err := r.queue.Stats(ctx, "acme"); err != nil {
		t.Errorf("%s: queue stats in the lost state = %v; want an answer", who, err)
	}
}

// TestGuardSharedByStores runs issue 13's sequence against the plugin state
// and the queue as well as the registry: Redis restarted without
// persistence under two replicas, one replica restarted, a new one started,
// writes tried again and again. No store writes to the emptied Redis as if
// it were the truth until the operator accepts; then every store writes.
func TestGuardSharedByStores(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{}) // no persistence: a restart empties it
	ctx := t.Context()
	cfg := redisdb.Config{Address: srv.Addr(), KeyPrefix: "g", PollInterval: 20 * time.Millisecond, DialTimeout: 500 * time.Millisecond}
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := openReplica(t, cfg, dirA, "a"), openReplica(t, cfg, dirB, "b")

	// Normal life: a tenant, a counter, an event.
	if _, err := a.reg.Update(ctx, "acme", func(*registry.Tenant) (*registry.Tenant, error) { return &registry.Tenant{ID: "acme"}, nil }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := a.kv.Add(ctx, []byte("n"), 1, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.queue.Enqueue(ctx, event("acme"), 100); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica{a, b} { // both saw the revision (and keep it in their seen file)
		deadline := time.Now().Add(30 * time.Second)
		for r.db.Guard.Seen() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}

	srv.Restart() // Redis comes back empty
	waitGuard(t, a, health.Lost)
	waitGuard(t, b, health.Lost)
	refusesWrites(t, a, "a")
	refusesWrites(t, b, "b")

	// b restarts with its data directory, c starts with none: neither
	// starts over on the empty Redis.
	b.close()
	b = openReplica(t, cfg, dirB, "b")
	c := openReplica(t, cfg, t.TempDir(), "c")
	for _, r := range []*replica{b, c} {
		if st := r.db.Guard.Status(); st.State != health.Lost {
			t.Fatalf("a replica opened after the loss: guard state %q, want lost", st.State)
		}
	}
	for i := range 60 { // many writes: none may clear the state
		refusesWrites(t, []*replica{a, b, c}[i%3], "replica "+string(rune('a'+i%3)))
	}
	if st := a.db.Guard.Status(); st.State != health.Lost || st.Refused["state"] == 0 || st.Refused["queue"] == 0 {
		t.Errorf("a's guard after refused writes: %+v; want lost, with refusals counted per store", st)
	}
	if n, err := srv.Do("EXISTS", "g:kv:{acme}:v:k", "g:kv:{acme}:v:n", "g:kv:{acme}:m", "{g:q:acme}:s", "{g:q}:tenants", "{g}:t:acme"); err != nil || n != ":0" {
		t.Errorf("EXISTS of the stores' keys after refused writes = %q, %v; want :0, nothing written to the emptied Redis", n, err)
	}

	// The operator accepts through one replica: every store writes again,
	// on every replica.
	if _, err := c.reg.AcceptLoss(ctx, 0); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*replica{a, b, c} {
		waitGuard(t, r, health.OK)
		if _, err := r.kv.Add(ctx, []byte("n"), 1, 0); err != nil {
			t.Errorf("KV add after the acceptance: %v", err)
		}
		if err := r.queue.Enqueue(context.Background(), event("acme"), 100); err != nil {
			t.Errorf("queue append after the acceptance: %v", err)
		}
	}
	if v, _, err := a.kv.Get(ctx, []byte("n")); err != nil || string(v) != "3" {
		t.Errorf("counter after starting over = %q, %v; want 3 (one add per replica after the acceptance)", v, err)
	}
}
