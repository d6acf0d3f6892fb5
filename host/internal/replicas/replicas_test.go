package replicas

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// bound is how long a change may take to reach a replica before a test
// fails. The target is 1s at p99 (measured and logged by TestReplicas, not
// asserted here); the bound only catches a change that never arrives. Every
// wait on it ends as soon as the change is seen, so it is long: 5 s failed
// TestDataLossThenRestart at load average 10, where loading a Go guest on a
// replica took longer.
const bound = 30 * time.Second

// TestReplicas runs three `imhook serve` processes on one redis-server and
// checks that they share tenants and plugin versions: propagation of
// uploads (measured), a replica killed and restarted, and Redis stopped and
// started again under them.
func TestReplicas(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	rs := []*replica{
		startReplica(t, "r1", srv.Addr()),
		startReplica(t, "r2", srv.Addr()),
		startReplica(t, "r3", srv.Addr()),
	}
	r1 := rs[0]
	const tenant = "acme"
	r1.mustAdmin("POST", "/v1/tenants", "application/json", []byte(`{"id":"`+tenant+`"}`), http.StatusCreated)
	for _, r := range rs {
		r.waitServes(tenant, "", bound) // known everywhere, no plugin yet
	}

	round := 0
	next := func() (string, []byte) {
		round++
		color := []string{"blue", "green"}[round%2]
		return color, variant(color, "round "+strconv.Itoa(round))
	}

	t.Run("propagation", func(t *testing.T) {
		const rounds = 20
		// Callbacks keep flowing to r2 during all the swaps; none may fail.
		stop := make(chan struct{})
		var calls, failed atomic.Int64
		var firstFailure atomic.Value
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				status, msg, err := rs[1].callback(tenant)
				calls.Add(1)
				if err != nil || status != http.StatusOK || (msg != "" && msg != "blue" && msg != "green") {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", status, msg, err))
				}
			}
		}()

		var lat []time.Duration
		for range rounds {
			color, wasm := next()
			r1.upload(tenant, wasm)
			committed := time.Now()
			var mu sync.Mutex
			var pw sync.WaitGroup
			for _, r := range rs[1:] {
				pw.Add(1)
				go func() {
					defer pw.Done()
					d := r.waitServes(tenant, color, bound).Sub(committed)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}()
			}
			pw.Wait()
			r1.waitServes(tenant, color, bound)
		}
		close(stop)
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d callbacks to r2 failed during the swaps; first: %v", n, calls.Load(), firstFailure.Load())
		}
		slices.Sort(lat)
		p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		t.Logf("propagation of an upload+activate from r1 to r2 and r3 over %d rounds (%d samples, default poll_interval 250ms): p50 %s, p99 %s, max %s; %d callbacks to r2 during the swaps, %d failed",
			rounds, len(lat), p(0.50).Round(time.Millisecond), p(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), calls.Load(), failed.Load())
	})

	t.Run("lost notifications", func(t *testing.T) {
		// Forbid every pub/sub channel to the Redis user: PUBLISH fails (the
		// writer ignores that), subscriptions are dropped and cannot come
		// back. Only the revision poll tells the replicas of a change, so
		// this measures the worst path.
		if got, err := srv.Do("ACL", "SETUSER", "default", "resetchannels"); err != nil || got != "+OK" {
			t.Fatalf("ACL SETUSER default resetchannels = %q, %v", got, err)
		}
		defer srv.Do("ACL", "SETUSER", "default", "allchannels")
		const rounds = 8
		var lat []time.Duration
		for range rounds {
			color, wasm := next()
			r1.upload(tenant, wasm)
			committed := time.Now()
			for _, r := range rs[1:] {
				lat = append(lat, r.waitServes(tenant, color, bound).Sub(committed))
			}
		}
		slices.Sort(lat)
		t.Logf("propagation without pub/sub, by the revision poll alone (%d samples): p50 %s, max %s",
			len(lat), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	})

	t.Run("replica killed and restarted", func(t *testing.T) {
		r3 := rs[2]
		r3.kill()
		color, wasm := next()
		r1.upload(tenant, wasm)
		rs[1].waitServes(tenant, color, bound)
		r3.start() // same data directory: its compile cache survives
		// It loads the current state before it reports serving.
		if status, got, err := r3.callback(tenant); err != nil || status != http.StatusOK || got != color {
			t.Fatalf("restarted replica answers %d %q, %v; want the current version %q", status, got, err, color)
		}
	})

	t.Run("redis down", func(t *testing.T) {
		_, wasm := next()
		serving := ""
		if _, got, err := r1.callback(tenant); err == nil {
			serving = got
		}
		srv.Stop()
		// Readiness says why, within the poll interval plus the dial timeout.
		deadline := time.Now().Add(bound)
		for {
			status, body := rs[1].readyz()
			store, _ := body["store"].(string)
			if strings.Contains(store, "redis at "+srv.Addr()) && strings.Contains(store, "unreachable") {
				if status != http.StatusNonAuthoritativeInfo || body["status"] != "degraded" {
					t.Errorf("/readyz with Redis down = %d %v; want 203 degraded (callbacks are still served, from the last loaded state)", status, body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %v %s after Redis stopped; want store to say redis is unreachable", status, body, bound)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The public webhook listener says only that the store is down.
		resp, err := client.Get(rs[1].web + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var pub map[string]any
		err = json.NewDecoder(resp.Body).Decode(&pub)
		resp.Body.Close()
		if store, _ := pub["store"].(string); err != nil || resp.StatusCode != http.StatusNonAuthoritativeInfo || !strings.HasPrefix(store, "unavailable") || strings.Contains(store, srv.Addr()) {
			t.Errorf("webhook /readyz with Redis down = %d %v, %v; want 203 with store \"unavailable...\" and no address", resp.StatusCode, pub, err)
		}
		// Callbacks are answered from the last loaded state, on every replica.
		for _, r := range rs {
			for range 20 {
				status, got, err := r.callback(tenant)
				if err != nil || status != http.StatusOK || got != serving {
					t.Fatalf("replica %s with Redis down answers %d %q, %v; want 200 %q", r.name, status, got, err, serving)
				}
			}
		}
		// Admin writes fail at once, clearly.
		start := time.Now()
		status, body, err := rs[1].adminDo("POST", "/v1/tenants/"+tenant+"/plugins/color/versions?activate=true", "application/wasm", wasm)
		if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), "unreachable") {
			t.Fatalf("upload with Redis down = %d %s, %v; want 503 saying Redis is unreachable", status, body, err)
		}
		var e struct{ Error string }
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Fatalf("503 body %s is not {\"error\": ...}", body)
		}
		t.Logf("admin write with Redis down: %d in %s: %s", status, time.Since(start).Round(time.Millisecond), e.Error)

		// Every replica has noticed (so each must log both transitions).
		for _, r := range rs {
			r.waitReadyz("203 with the store unreachable", func(status int, b map[string]any) bool {
				return status == http.StatusNonAuthoritativeInfo && b["store_state"] == "unreachable"
			})
		}
		if v := rs[1].metric("imhook_store_state", `state="unreachable"`); v != 1 {
			t.Errorf(`imhook_store_state{state="unreachable"} = %v with Redis down, want 1`, v)
		}
		if v := rs[1].metric("imhook_store_last_read_age_seconds", ""); v <= 0 {
			t.Errorf("imhook_store_last_read_age_seconds = %v with Redis down, want > 0", v)
		}
		// Redis comes back (its append-only file kept everything): the
		// replicas recover and changes flow again.
		srv.Start()
		deadline = time.Now().Add(bound)
		for _, r := range rs {
			for {
				_, body := r.readyz()
				if body["store"] == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("replica %s /readyz %v %s after Redis restarted", r.name, body, bound)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		color, wasm := next()
		rs[1].upload(tenant, wasm) // through another replica this time
		for _, r := range rs {
			r.waitServes(tenant, color, bound)
		}
		if v := rs[2].metric("imhook_store_state", `state="ok"`); v != 1 {
			t.Errorf(`imhook_store_state{state="ok"} = %v after Redis came back, want 1`, v)
		}
		// Both transitions are logged, once each, on every replica, and
		// nothing was taken for lost data.
		for _, r := range rs {
			down, up := r.logCount("store unreachable: callbacks are served from the last loaded state, admin changes are refused"), r.logCount("store reachable again")
			if down != 1 || up != 1 || strings.Contains(r.log.String(), "store lost data") {
				t.Errorf("replica %s logged %d \"unreachable\" and %d \"reachable again\" lines, want 1 each, and no lost data:\n%s", r.name, down, up, r.log)
			}
		}
	})
}

// TestRedisUnreachableAtStart checks that `imhook serve` with no Redis at
// the configured address exits at once with an error naming the address and
// the key to check.
func TestRedisUnreachableAtStart(t *testing.T) {
	bin := imhookBinary(t)
	addr := "127.0.0.1:" + strconv.Itoa(redistest.FreePort(t))
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = replicaEnv(addr)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("imhook serve without Redis: err %v, want a non-zero exit\n%s", err, out)
	}
	for _, want := range []string{"redis at " + addr + " unreachable", "check store.redis.address"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("imhook serve took %s to give up", d)
	}
}
