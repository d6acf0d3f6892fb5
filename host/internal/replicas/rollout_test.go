package replicas

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// TestRollout measures how fast a switch between two versions that every
// replica already holds (loaded and warm) serves everywhere, with the real
// example plugins (moderation and trivial, Go guests of 2-3 MB), on an idle
// machine and with every CPU kept busy by other processes. It checks that
//
//   - the replica that took the activation serves the new version to a
//     callback sent right after its 200;
//   - every callback sent meanwhile, to every replica, is answered by one
//     of the two versions (never a failure policy, never an error);
//   - each replica serves each switch within bound (the measured p99 is
//     logged: docs/deploy.md reports it; the target is 200 ms idle).
//
// GET /v1/store and the stats then show which version serves where.
func TestRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Go example plugins; not in -short")
	}
	srv := redistest.Start(t, redistest.Options{Persist: true})
	rs := []*replica{
		startReplica(t, "r1", srv.Addr()),
		startReplica(t, "r2", srv.Addr()),
		startReplica(t, "r3", srv.Addr()),
	}
	r1 := rs[0]
	const tenant = "acme"
	r1.mustAdmin("POST", "/v1/tenants", "application/json",
		[]byte(`{"id":"`+tenant+`","settings":{"config":{"banned_words":"spam","err_msg":"moderated"}}}`), http.StatusCreated)
	hashOf := func(b []byte) string {
		var v struct {
			Version struct{ Hash string }
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Version.Hash == "" {
			t.Fatalf("upload answer %s: %v", b, err)
		}
		return v.Version.Hash
	}
	versions := map[string]string{ // hash -> what a callback with "spam" gets as errMsg
		hashOf(r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/mod/versions", "application/wasm", exampleWasm(t, "moderation"), http.StatusCreated)): "moderated",
		hashOf(r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/mod/versions", "application/wasm", exampleWasm(t, "trivial"), http.StatusCreated)):    "",
	}
	hashes := slices.Sorted(func(yield func(string) bool) {
		for h := range versions {
			if !yield(h) {
				return
			}
		}
	})
	activate := func(r *replica, hash string) time.Time {
		r.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/mod/versions/"+hash+"/activate", "", nil, http.StatusOK)
		return time.Now()
	}
	serves := func(r *replica, want string, limit time.Duration) time.Time {
		deadline := time.Now().Add(limit)
		for {
			got, err := send(r.web, tenant, "buy spam")
			now := time.Now()
			if err == nil && got.Status == http.StatusOK && got.ErrMsg == want {
				return now
			}
			if now.After(deadline) {
				t.Fatalf("replica %s: answers %+v (%v) %s after the switch, want errMsg %q\n%s", r.name, got, err, limit, want, r.log)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Warm up: activate each version once everywhere, then wait until
	// every replica holds both (the serving one and the rollback target),
	// as its own stats say.
	for _, h := range hashes {
		activate(r1, h)
		for _, r := range rs {
			serves(r, versions[h], 4*bound) // compiles a Go guest: seconds on a crowded machine
		}
	}
	for _, r := range rs {
		deadline := time.Now().Add(4 * bound) // compiling a Go guest takes seconds on a busy machine
		for {
			var st struct {
				Stats struct {
					Plugins []struct {
						Serving string   `json:"serving"`
						Held    []string `json:"held"`
					} `json:"plugins"`
				} `json:"stats"`
			}
			_ = json.Unmarshal(r.mustAdmin("GET", "/v1/tenants/"+tenant+"/stats", "", nil, http.StatusOK), &st)
			if ps := st.Stats.Plugins; len(ps) == 1 && ps[0].Serving != "" && len(ps[0].Held) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s does not hold both versions: %+v", r.name, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	run := func(t *testing.T, switches int) {
		// Callbacks flow to every replica throughout; each must be answered
		// by one of the two versions.
		stop := make(chan struct{})
		var calls, bad atomic.Int64
		var firstBad atomic.Value
		var wg sync.WaitGroup
		for _, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					got, err := send(r.web, tenant, "buy spam")
					calls.Add(1)
					ok := err == nil && got.ErrDlt == "" && ((got.Status == http.StatusOK && got.ErrMsg == "" && got.NextCode == 0) ||
						(got.Status == http.StatusOK && got.ErrMsg == "moderated" && got.NextCode == 1))
					if !ok {
						bad.Add(1)
						firstBad.CompareAndSwap(nil, fmt.Sprintf("replica %s: %+v %v", r.name, got, err))
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
		var lat []time.Duration
		stale := 0
		for i := range switches {
			h := hashes[i%2]
			w := rs[i%3] // the writer changes each time
			done := activate(w, h)
			if got, err := send(w.web, tenant, "buy spam"); err != nil || got.ErrMsg != versions[h] {
				stale++
				t.Errorf("switch %d: replica %s answered %+v, %v right after its 200; want the version it activated (errMsg %q)", i, w.name, got, err, versions[h])
			}
			var mu sync.Mutex
			var pw sync.WaitGroup
			for _, r := range rs {
				if r == w {
					continue
				}
				pw.Add(1)
				go func() {
					defer pw.Done()
					d := serves(r, versions[h], bound).Sub(done)
					if d > 200*time.Millisecond {
						t.Logf("switch %d: replica %s took %s", i, r.name, d.Round(time.Millisecond))
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}()
			}
			pw.Wait()
		}
		close(stop)
		wg.Wait()
		if n := bad.Load(); n > 0 {
			t.Errorf("%d of %d callbacks during the switches were not answered by either version; first: %v", n, calls.Load(), firstBad.Load())
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration {
			return lat[min(len(lat)-1, int(q*float64(len(lat))))].Round(100 * time.Microsecond)
		}
		t.Logf("%d switches between two held versions (moderation, trivial), %d samples (the two replicas that did not take the write): p50 %s, p90 %s, p99 %s, max %s; the writer served the new version right after its 200 in %d of %d; %d callbacks meanwhile, %d not answered by either version",
			switches, len(lat), p(.5), p(.9), p(.99), lat[len(lat)-1].Round(100*time.Microsecond), switches-stale, switches, calls.Load(), bad.Load())
	}
	t.Run("idle", func(t *testing.T) { run(t, 60) })
	t.Run("cpu load", func(t *testing.T) {
		// Busy-looping processes slow every test running beside this one
		// (go test runs packages in parallel), so only on request.
		measureOnly(t)
		burnCPU(t, runtime.NumCPU())
		run(t, 60)
	})

	t.Run("new versions", func(t *testing.T) {
		// Versions no replica has compiled: each replica loads (compiles)
		// the version before it serves it; until then its previous version
		// serves. Measured for comparison, idle; a dozen compiles of Go
		// guests weigh on the tests running beside, so only on request.
		measureOnly(t)
		var lat []time.Duration
		for i := range 4 {
			name, want := "moderation", "moderated"
			if i%2 == 1 {
				name, want = "trivial", ""
			}
			wasm := withSection(exampleWasm(t, name), fmt.Sprintf("new version %d", i))
			r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/mod/versions?activate=true", "application/wasm", wasm, http.StatusCreated)
			done := time.Now()
			if got, err := send(r1.web, tenant, "buy spam"); err != nil || got.ErrMsg != want {
				t.Errorf("round %d: the writer answered %+v, %v right after its 200, want errMsg %q", i, got, err, want)
			}
			for _, r := range rs[1:] {
				lat = append(lat, serves(r, want, 4*bound).Sub(done))
			}
		}
		slices.Sort(lat)
		t.Logf("upload+activate of a Go guest no replica had compiled: %d samples, p50 %s, max %s (each replica compiles it; its previous version serves meanwhile)",
			len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	})

	// Which version serves where: the store report and the stats agree.
	rep := storeReport(t, r1)
	reps, _ := rep["replicas"].([]any)
	if len(reps) != len(rs) {
		t.Fatalf("GET /v1/store lists %d replicas, want %d: %v", len(reps), len(rs), rep)
	}
	var stats struct {
		Replicas map[string]map[string]string `json:"replicas"`
	}
	if err := json.Unmarshal(r1.mustAdmin("GET", "/v1/tenants/"+tenant+"/stats", "", nil, http.StatusOK), &stats); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(bound)
	for {
		n := 0
		for _, ps := range stats.Replicas {
			if ps["mod"] != "" && ps["mod"] == stats.Replicas[rs[0].id()]["mod"] {
				n++
			}
		}
		if n == len(rs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats replicas = %v, want every replica serving the same version of mod", stats.Replicas)
		}
		time.Sleep(50 * time.Millisecond)
		_ = json.Unmarshal(r1.mustAdmin("GET", "/v1/tenants/"+tenant+"/stats", "", nil, http.StatusOK), &stats)
	}
}

// measureOnly skips t unless IMHOOK_TEST_MEASURE is set: measurements that
// load the machine (docs/deploy.md reports them).
func measureOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("IMHOOK_TEST_MEASURE") == "" {
		t.Skip("a measurement that loads the machine: set IMHOOK_TEST_MEASURE=1 to run it (docs/deploy.md)")
	}
}
