package replicas

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestDataLossThenRestart is the sequence of issue 13 with real processes:
// Redis loses its data under three replicas, one replica restarts against
// the empty Redis, a fourth starts with an empty data directory, and writes
// are tried through them past the old revision. No replica may drop the
// plugins it serves, nor accept a write, until the operator accepts the loss
// (`imhook store accept`); then every replica converges on what Redis holds.
// The writes include after-callbacks, which the queue on the same Redis
// refuses (503, never enqueued into the emptied Redis) until then.
func TestDataLossThenRestart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{}) // no persistence: a restart empties it
	rs := []*replica{
		startReplica(t, "r1", srv.Addr()),
		startReplica(t, "r2", srv.Addr()),
		startReplica(t, "r3", srv.Addr()),
	}
	r1, r3 := rs[0], rs[2]
	const tenant = "acme"
	r1.mustAdmin("POST", "/v1/tenants", "application/json", []byte(`{"id":"`+tenant+`"}`), http.StatusCreated)
	// The queued plugin first: a replica serving blue has applied it too.
	r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/queued/versions?activate=true", "application/wasm", queuedWasm(t), http.StatusCreated)
	r1.upload(tenant, variant("blue", "v1"))
	for _, r := range rs {
		r.waitServes(tenant, "blue", bound)
	}
	for _, r := range rs {
		if status, body := afterCallback(t, r, tenant); status != http.StatusOK {
			t.Fatalf("after-callback to %s before the loss = %d %s; want 200 (queued)", r.name, status, body)
		}
	}

	srv.Restart() // Redis comes back empty
	for _, r := range rs {
		r.waitReadyz("203 degraded, store lost", func(status int, b map[string]any) bool {
			return status == http.StatusNonAuthoritativeInfo && b["store_state"] == "lost"
		})
		if r.logCount("store lost data: serving what is loaded, refusing changes until an operator acts")+
			r.logCount("store lost data (found by another replica): serving what is loaded, refusing changes until an operator acts") == 0 {
			t.Errorf("replica %s did not log the loss:\n%s", r.name, r.log)
		}
		if _, got, err := r.callback(tenant); err != nil || got != "blue" {
			t.Fatalf("replica %s after the loss answers %q, %v; want blue (what it loaded)", r.name, got, err)
		}
	}
	// After-callbacks are not queued into the emptied Redis.
	for _, r := range rs {
		if status, body := afterCallback(t, r, tenant); status != http.StatusServiceUnavailable || !strings.Contains(body, "lost data") {
			t.Errorf("after-callback to %s after the loss = %d %s; want 503 saying the store lost data", r.name, status, body)
		}
	}
	// The operator's reads of the queue and the state answer what Redis
	// holds now, and say the store lost data.
	for _, path := range []string{"/v1/tenants/" + tenant + "/queue", "/v1/tenants/" + tenant + "/kv"} {
		req, _ := http.NewRequest("GET", r1.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		resp, err := adminClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Imhook-Store-State") != "lost" {
			t.Errorf("GET %s after the loss = %d %s (Imhook-Store-State %q); want 200 with what Redis holds and the header saying lost",
				path, resp.StatusCode, b, resp.Header.Get("Imhook-Store-State"))
		}
	}
	// Reads do not pretend the registry is empty.
	status, body, err := r1.adminDo("GET", "/v1/tenants", "", nil)
	if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), "lost data") {
		t.Errorf("GET /v1/tenants after the loss = %d %s, %v; want 503 saying the store lost data", status, body, err)
	}

	// r3 restarts (same data directory) and r4 starts with none: neither
	// serves the empty Redis as the truth.
	r3.stop()
	r3.start()
	r4 := startReplica(t, "r4", srv.Addr())
	for _, r := range []*replica{r3, r4} {
		r.waitReadyz("503 waiting for the operator", func(status int, b map[string]any) bool {
			return status == http.StatusServiceUnavailable && b["status"] == "waiting for the operator"
		})
		// Callbacks that reach it anyway are not stopped.
		got, err := send(r.web, tenant, "hi")
		if err != nil || got.stopped() {
			t.Errorf("replica %s (not loaded) answers %+v, %v; want 200 neutral, never a stop", r.name, got, err)
		}
	}
	// Writes, through every replica, past the revision seen before.
	for i := range 60 {
		r := rs[i%3]
		if i%2 == 1 {
			r = r4
		}
		status, body, err := r.adminDo("POST", "/v1/tenants", "application/json", []byte(`{"id":"t`+strconv.Itoa(i)+`"}`))
		if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(string(body), "lost") {
			t.Fatalf("write %d through %s after the loss = %d %s, %v; want 503 lost data", i, r.name, status, body, err)
		}
	}
	for _, r := range rs[:2] {
		if _, got, err := r.callback(tenant); err != nil || got != "blue" {
			t.Fatalf("replica %s after 60 refused writes answers %q, %v; want blue", r.name, got, err)
		}
		if status, body := afterCallback(t, r, tenant); status != http.StatusServiceUnavailable {
			t.Errorf("after-callback to %s after 60 refused writes = %d %s; want 503", r.name, status, body)
		}
	}
	if n, err := srv.Do("EXISTS", "{imhook:q:"+tenant+"}:s", "{imhook:q}:tenants"); err != nil || n != ":0" {
		t.Errorf("queue keys in the emptied Redis: EXISTS = %q, %v; want :0", n, err)
	}

	// The operator looks, then accepts (here: starting over from the empty
	// Redis) with the CLI, naming the revision Redis holds.
	out, err := storeCLI(t, r4, "status")
	if err != nil || !strings.Contains(out, "lost data") || !strings.Contains(out, "imhook store accept --revision 0") {
		t.Fatalf("imhook store status: %v\n%s", err, out)
	}
	if out, err := storeCLI(t, r1, "status"); err != nil || !strings.Contains(out, "refused since this replica started, because Redis lost data") {
		t.Errorf("imhook store status on r1 does not count the refusals: %v\n%s", err, out)
	}
	if out, err := storeCLI(t, r4, "accept", "--revision", "5"); err == nil {
		t.Fatalf("imhook store accept with a revision Redis does not hold succeeded:\n%s", out)
	}
	if out, err := storeCLI(t, r4, "accept", "--revision", "0"); err != nil || !strings.Contains(out, "accepted") {
		t.Fatalf("imhook store accept --revision 0: %v\n%s", err, out)
	}
	for _, r := range append(rs, r4) {
		// Ready, and the registry as Redis holds it applied: a replica that
		// served all along is ready at once, and reloads after (once failed
		// in CI: r1 still served the tenant a moment after the acceptance).
		r.waitReadyz("200 ready, the store's revision applied", func(status int, b map[string]any) bool {
			return status == http.StatusOK && b["status"] == "ready" && b["applied"] == b["revision"]
		})
		if got, err := send(r.web, tenant, "hi"); err != nil || got.Status != http.StatusNotFound {
			t.Errorf("replica %s after starting over answers %+v, %v; want 404 unknown tenant like every replica", r.name, got, err)
		}
	}
	if r1.logCount("store: an operator accepted the lost data; the registry as Redis now holds it is the truth, reloading") == 0 {
		t.Errorf("r1 did not log the acceptance:\n%s", r1.log)
	}
	// Writes work again, and every replica serves them.
	r1.mustAdmin("POST", "/v1/tenants", "application/json", []byte(`{"id":"`+tenant+`"}`), http.StatusCreated)
	r1.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/queued/versions?activate=true", "application/wasm", queuedWasm(t), http.StatusCreated)
	r1.upload(tenant, variant("green", "after"))
	for _, r := range append(rs, r4) {
		r.waitServes(tenant, "green", bound)
	}
	for _, r := range append(rs, r4) {
		if status, body := afterCallback(t, r, tenant); status != http.StatusOK {
			t.Errorf("after-callback to %s after the acceptance = %d %s; want 200", r.name, status, body)
		}
	}
}

// storeCLI runs `imhook store <args>` against r's admin API.
func storeCLI(t *testing.T, r *replica, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(r.bin, append([]string{"store"}, args...)...)
	cmd.Env = append(cmd.Environ(), "IMHOOK_ADMIN_URL="+r.admin, "IMHOOK_TOKEN="+operatorToken)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// storeReport reads GET /v1/store from r.
func storeReport(t *testing.T, r *replica) map[string]any {
	t.Helper()
	b := r.mustAdmin("GET", "/v1/store", "", nil, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var queuedGuest struct {
	once sync.Once
	wasm []byte
	err  error
}

// queuedWasm is host/testdata/queued: it handles an after-callback, so
// after-callbacks to its tenant are queued.
func queuedWasm(t *testing.T) []byte {
	t.Helper()
	queuedGuest.once.Do(func() {
		queuedGuest.wasm, queuedGuest.err = wasmbuild.Go(context.Background(), "../../testdata/queued", wasmbuild.Options{})
	})
	if queuedGuest.err != nil {
		t.Fatal(queuedGuest.err)
	}
	return queuedGuest.wasm
}

// afterCallback sends one after-callback for tenant to r and returns the
// status and body.
func afterCallback(t *testing.T, r *replica, tenant string) (int, string) {
	t.Helper()
	const cmd = "callbackAfterSendSingleMsgCommand"
	body := `{"callbackCommand":"` + cmd + `","sendID":"alice","recvID":"bob","contentType":101,"sessionType":1,"content":"ok"}`
	resp, err := client.Post(r.web+"/hooks/"+tenant+"/"+cmd, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("after-callback to %s: %v", r.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
