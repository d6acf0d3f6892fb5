package replicas

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// TestStartUnderLoad starts a replica, with an empty compile cache, while
// callbacks already flow to its address: none may get a stop (a 503, an
// "unknown tenant" 404, or nextCode 1 for a message the plugin lets
// through). Those that come before it listens are refused connections;
// those that come while its tenants load get the tenant's failure policy
// (neutral by default).
func TestStartUnderLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	r1 := startReplica(t, "r1", srv.Addr())
	const tenant = "acme"
	r1.mustAdmin("POST", "/v1/tenants", "application/json",
		[]byte(`{"id":"`+tenant+`","settings":{"config":{"banned_words":"spam","err_msg":"moderated"}}}`), http.StatusCreated)
	r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/mod/versions?activate=true", "application/wasm", exampleWasm(t, "moderation"), http.StatusCreated)
	if got, err := send(r1.web, tenant, "buy spam"); err != nil || got.ErrMsg != "moderated" {
		t.Fatalf("r1 answers %+v, %v; want the moderation plugin's stop", got, err)
	}

	port := redistest.FreePort(t)
	web := "http://127.0.0.1:" + strconv.Itoa(port)
	stop := make(chan struct{})
	var (
		refused, answered, stops atomic.Int64
		firstStop                atomic.Value
		wg                       sync.WaitGroup
	)
	// A steady stream rather than a flood: other packages' tests run beside
	// this one.
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := send(web, tenant, "hello")
				switch {
				case err != nil:
					refused.Add(1) // not listening yet
					time.Sleep(time.Millisecond)
				case got.stopped():
					stops.Add(1)
					firstStop.CompareAndSwap(nil, fmt.Sprintf("%d %s", got.Status, got.Body))
				default:
					answered.Add(1)
				}
				time.Sleep(500 * time.Microsecond)
			}
		}()
	}
	r2 := &replica{t: t, name: "r2", bin: imhookBinary(t), dataDir: t.TempDir(), env: replicaEnv(srv.Addr()), webAddr: "127.0.0.1:" + strconv.Itoa(port)}
	r2.start()
	t.Cleanup(r2.stop)
	r2.waitReadyz("200 ready", func(status int, _ map[string]any) bool { return status == http.StatusOK })
	if got, err := send(r2.web, tenant, "buy spam"); err != nil || got.ErrMsg != "moderated" {
		t.Errorf("r2 once ready answers %+v, %v; want the moderation plugin's stop", got, err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	early := r2.metric("imhook_webhook_not_ready_total", "") + r2.metric("imhook_webhook_calls_total", `outcome="policy"`)
	t.Logf("callbacks to the starting replica: %d refused connections, %d answered (%.0f of them before its plugins had loaded, by the failure policy), %d stops",
		refused.Load(), answered.Load(), early, stops.Load())
	if n := stops.Load(); n > 0 {
		t.Errorf("%d callbacks to the starting replica got a stop; first: %v", n, firstStop.Load())
	}
	if answered.Load() == 0 {
		t.Error("no callback reached the replica")
	}
}
