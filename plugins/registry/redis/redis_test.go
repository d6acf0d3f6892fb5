package redis_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/redis"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// prefixes gives every backend opened on the shared test server its own key
// prefix, so the conformance suite's "fresh, empty store" holds.
var prefixes atomic.Int64

func freshPrefix() string { return "t" + strconv.FormatInt(prefixes.Add(1), 10) }

func open(t *testing.T, cfg redisdb.Config) *redis.Backend {
	t.Helper()
	b, err := redis.Open(t.Context(), cfg, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	registrytest.Run(t, func(t *testing.T) registry.Backend {
		b := open(t, redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix()})
		// The suite's Registry rules expect unreferenced blobs to be
		// collected at once, which Registry only does for unshared stores
		// (shared ones keep fresh blobs for Options.BlobGrace, see
		// TestBlobGrace). Sharing changes nothing else the suite checks.
		return unshared{b}
	})
}

// unshared presents a Backend as not shared, so the Registry collects
// garbage without the grace period.
type unshared struct{ *redis.Backend }

func (unshared) Shared() bool { return false }

// TestBlobGrace checks that the Registry, seeing a shared store, keeps a
// fresh unreferenced blob another replica may be about to commit, and
// collects it once it is older than the grace period.
func TestBlobGrace(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	b := open(t, redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix()})
	data, info := registrytest.Blob("in flight elsewhere")
	if err := b.PutBlob(ctx, "acme", info.Hash, data); err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(ctx, b, registry.Options{BlobGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("CollectGarbage = %d, %v; want the fresh blob kept", n, err)
	}
	// New collects everyone's garbage at startup.
	if _, err := registry.New(ctx, b, registry.Options{BlobGrace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Blob(ctx, "acme", info.Hash); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Blob after startup GC with a 1ns grace = %v, want ErrNotFound", err)
	}
	if owners, err := b.BlobTenants(ctx); err != nil || len(owners) != 0 {
		t.Fatalf("BlobTenants = %v, %v; want none left", owners, err)
	}
}

func TestOpenOtherFormat(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	if _, err := srv.Do("SET", "{fmt}:format", "9"); err != nil {
		t.Fatal(err)
	}
	_, err := redis.Open(t.Context(), redisdb.Config{Address: srv.Addr(), KeyPrefix: "fmt"}, redis.Options{})
	if err == nil || !strings.Contains(err.Error(), `is store format "9", this imhook reads format "1"`) {
		t.Fatalf("Open = %v, want the format error", err)
	}
}

// TestKeyLayout checks the keys another tool (or an operator with
// redis-cli) sees, and that metadata keys share one cluster slot.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	b := open(t, redisdb.Config{Address: srv.Addr()})
	r, err := registry.New(ctx, b, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	data, info := registrytest.Blob("layout")
	if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"GET", "{imhook}:format"}, "$1"},
		{[]string{"GET", "{imhook}:rev"}, "$1"},
		{[]string{"SISMEMBER", "{imhook}:tenants", "acme"}, ":1"},
		{[]string{"EXISTS", "{imhook}:t:acme"}, ":1"},
		{[]string{"SISMEMBER", "{imhook}:blobowners", "acme"}, ":1"},
		{[]string{"EXISTS", "{imhook:b:acme}:" + info.Hash}, ":1"},
		{[]string{"HEXISTS", "{imhook:b:acme}:index", info.Hash}, ":1"},
	} {
		got, err := srv.Do(tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%v = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestSharedStore has two backends on one Redis, as two replicas would.
func TestSharedStore(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := t.Context()
	cfg := redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix(), PollInterval: 50 * time.Millisecond}
	b1, b2 := open(t, cfg), open(t, cfg)
	if !b1.Shared() {
		t.Fatal("Shared() = false, want true")
	}
	w2 := b2.Watch(ctx)

	r1, err := registry.New(ctx, b1, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, _, err := r1.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, w2, tn.Revision, 2*time.Second, "the other backend to hear of a commit")
	got, err := b2.Get(ctx, "acme")
	if err != nil || got.Revision != tn.Revision {
		t.Fatalf("other backend Get = %+v, %v; want revision %d", got, err, tn.Revision)
	}

	t.Run("lost message", func(t *testing.T) {
		// A commit whose PUBLISH never happened (the writer died after
		// EXEC): only the poll can notice it.
		rev, err := b1.Revision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Do("SET", "{"+cfg.KeyPrefix+"}:rev", strconv.FormatUint(rev+5, 10)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, w2, rev+5, time.Second, "the poll to notice an unannounced commit")
	})

	t.Run("pubsub reconnect", func(t *testing.T) {
		if _, err := srv.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
			t.Fatal(err)
		}
		tn, err := r1.SetSettings(ctx, "acme", registry.Settings{KeepVersions: 3}, registry.AnyRevision)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, w2, tn.Revision, time.Second, "a commit after the subscription was cut")
	})

	t.Run("concurrent writers", func(t *testing.T) {
		// Both processes update the same tenant; every update lands once.
		const n = 20
		errc := make(chan error, 2)
		for i, b := range []*redis.Backend{b1, b2} {
			go func() {
				for j := range n {
					key := "w" + strconv.Itoa(i) + "_" + strconv.Itoa(j)
					_, err := b.Update(ctx, "acme", func(cur *registry.Tenant) (*registry.Tenant, error) {
						if cur.Settings.Config == nil {
							cur.Settings.Config = map[string]string{}
						}
						cur.Settings.Config[key] = "x"
						return cur, nil
					})
					if err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
		}
		for range 2 {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		got, err := b2.Get(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Settings.Config) != 2*n {
			t.Fatalf("config has %d keys after %d updates, want %d (an update was lost)", len(got.Settings.Config), 2*n, 2*n)
		}
	})
}

// TestHealth stops Redis under a running backend and starts it again.
func TestHealth(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	ctx := t.Context()
	cfg := redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix(), PollInterval: 50 * time.Millisecond, DialTimeout: 200 * time.Millisecond}
	b := open(t, cfg)
	w := b.Watch(ctx)
	r, err := registry.New(ctx, b, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, _, err := r.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, tn.Revision, time.Second, "the local commit")
	if err := b.Health(); err != nil {
		t.Fatalf("Health = %v with Redis up", err)
	}

	srv.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for b.Health() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Health still nil 3s after Redis stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	err = b.Health()
	if want := "registry: redis at " + srv.Addr() + " since "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Health = %q, want it to start with %q and say unreachable", err, want)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = r.SetSettings(wctx, "acme", registry.Settings{KeepVersions: 2}, registry.AnyRevision)
	cancel()
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("write with Redis stopped: err = %v, want registry.ErrUnavailable (the admin API answers 503 for it)", err)
	}

	srv.Start()
	deadline = time.Now().Add(5 * time.Second)
	for b.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Health = %v 5s after Redis came back", b.Health())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The data survived (append-only file) and writes work again.
	tn2, err := r.SetSettings(ctx, "acme", registry.Settings{KeepVersions: 2}, tn.Revision)
	if err != nil {
		t.Fatalf("write after Redis came back: %v", err)
	}
	waitFor(t, w, tn2.Revision, time.Second, "a commit after Redis came back")

	t.Run("data lost", func(t *testing.T) {
		if _, err := srv.Do("FLUSHALL"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := b.Health()
			if err != nil && strings.Contains(err.Error(), "Redis lost data") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Health = %v 3s after FLUSHALL, want the data loss reported", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestCloseEndsWatch(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	b, err := redis.Open(t.Context(), redisdb.Config{Address: srv.Addr(), KeyPrefix: freshPrefix()}, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := b.Watch(t.Context())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-w:
		if ok {
			t.Fatal("Watch delivered a value after Close")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch channel not closed by Close")
	}
	if _, err := b.Get(t.Context(), "x"); err == nil || errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get after Close = %v, want a closed-client error", err)
	}
}

// waitFor reads w until it reports rev or more, failing after d.
func waitFor(t *testing.T, w <-chan uint64, rev uint64, d time.Duration, what string) {
	t.Helper()
	timeout := time.After(d)
	var last uint64
	for last < rev {
		select {
		case got, ok := <-w:
			if !ok {
				t.Fatalf("watch closed waiting for %s", what)
			}
			last = got
		case <-timeout:
			t.Fatalf("waited %s for %s: watch at %d, want %d", d, what, last, rev)
		}
	}
}
