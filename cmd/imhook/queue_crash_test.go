package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// guestBuild is a Go guest under host/testdata, built once per test binary.
type guestBuild struct {
	dir  string
	once sync.Once
	wasm []byte
	err  error
}

func (g *guestBuild) build(t *testing.T) []byte {
	t.Helper()
	g.once.Do(func() { g.wasm, g.err = wasmbuild.Go(context.Background(), g.dir, wasmbuild.Options{}) })
	if g.err != nil {
		t.Fatal(g.err)
	}
	return g.wasm
}

var (
	// queuedGuest logs a line "delivered" with the event's content for
	// every delivery.
	queuedGuest = &guestBuild{dir: "../../host/testdata/queued"}
	// countedGuest counts every delivery in the tenant's KV state (a
	// counter per event ID).
	countedGuest = &guestBuild{dir: "../../host/testdata/counted"}
)

func buildQueuedGuest(t *testing.T) []byte  { return queuedGuest.build(t) }
func buildCountedGuest(t *testing.T) []byte { return countedGuest.build(t) }

// countedState reads what the counted guest recorded in the bbolt state of
// the stopped server in dataDir: the event ID of each content, and the
// deliveries of each event ID.
func countedState(t *testing.T, dataDir, tenant string) (events map[string]string, deliveries map[string]int) {
	t.Helper()
	st, err := boltstate.Open(filepath.Join(dataDir, "state.db"), boltstate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	events, deliveries = map[string]string{}, map[string]int{}
	var after []byte
	for {
		keys, err := st.List(ctx, tenant, nil, after, state.MaxListLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			e, err := st.Get(ctx, tenant, k)
			if err != nil {
				t.Fatal(err)
			}
			switch key := string(k); {
			case strings.HasPrefix(key, "c:"):
				events[key[2:]] = string(e.Value)
			case strings.HasPrefix(key, "ev:"):
				n, err := strconv.Atoi(string(e.Value))
				if err != nil {
					t.Fatalf("counter %s = %q", key, e.Value)
				}
				deliveries[key[3:]] = n
			}
		}
		if len(keys) < state.MaxListLimit {
			return events, deliveries
		}
		after = keys[len(keys)-1]
	}
}

// startCounted starts `imhook serve` on a new data directory, logging to a
// new file, with tenant (settings as JSON) running the counted guest.
func startCounted(t *testing.T, tenant, settings string) (p *process, dataDir, logPath string) {
	t.Helper()
	buildServe(t)
	wasm := buildCountedGuest(t)
	dataDir, logPath = t.TempDir(), filepath.Join(t.TempDir(), "imhook.log")
	p = startLogged(t, dataDir, logPath)
	if status, body, err := p.admin("POST", "/v1/tenants", "application/json", []byte(`{"id":"`+tenant+`","settings":`+settings+`}`)); err != nil || status/100 != 2 {
		t.Fatalf("create tenant: %d %s %v", status, body, err)
	}
	if status, body, err := p.admin("POST", "/v1/tenants/"+tenant+"/plugins/p/versions?activate=true", "application/wasm", wasm); err != nil || status/100 != 2 {
		t.Fatalf("upload: %d %s %v", status, body, err)
	}
	return p, dataDir, logPath
}

// stop ends p gracefully (SIGTERM) and waits, so its files can be read.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second): // a backstop
		p.cmd.Process.Kill()
		<-done
		t.Fatal("imhook serve did not stop within 60s of SIGTERM")
	}
}

// startLogged runs `imhook serve` on dataDir like startServe, logging JSON
// at info level to the end of logPath (shared by every run), with env added;
// like startServe, it starts again on other ports when one was taken.
func startLogged(t *testing.T, dataDir, logPath string, env ...string) *process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, taken := startLoggedOnce(t, dataDir, logPath, env...)
		if !taken {
			return p
		}
		if attempt == 5 {
			t.Fatalf("imhook serve found its ports taken 5 times; see %s", logPath)
		}
	}
}

// startLoggedOnce is one attempt of startLogged; taken reports that a port
// was taken (the process has exited).
func startLoggedOnce(t *testing.T, dataDir, logPath string, env ...string) (p *process, taken bool) {
	t.Helper()
	hp, ap := freePort(t), freePort(t)
	p = &process{
		hooks:       fmt.Sprintf("http://127.0.0.1:%d", hp),
		adm:         fmt.Sprintf("http://127.0.0.1:%d", ap),
		stderr:      &syncbuf.Buffer{},
		operatorTok: "operator-token-for-the-crash-test",
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var from int64 // this run's lines start here
	if fi, err := logf.Stat(); err == nil {
		from = fi.Size()
	}
	defer logf.Close() // the child has its own descriptor
	p.cmd = exec.Command(serveBuild.binary, "serve", "--data-dir", dataDir,
		"--addr", fmt.Sprintf("127.0.0.1:%d", hp), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", ap))
	p.cmd.Env = append(append(os.Environ(), "IMHOOK_ADMIN__TOKEN="+p.operatorTok, "IMHOOK_LOG__LEVEL=info",
		"IMHOOK_LOG__FORMAT=json", "IMHOOK_QUEUE__MIN_BACKOFF=20ms", "IMHOOK_QUEUE__MAX_BACKOFF=200ms"), env...)
	p.cmd.Stderr = logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(p.adm + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, false
			}
		}
		if b, _ := os.ReadFile(logPath); int64(len(b)) > from && bytes.Contains(b[from:], []byte("address already in use")) {
			p.cmd.Wait() // it exits when it cannot listen
			return p, true
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("imhook serve not ready after 60s; log:\n%s", tail(b, 4000))
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// deliveredContents reads the "delivered" lines the queued guest logged,
// counting each content's deliveries.
func deliveredContents(t *testing.T, logPath string) map[string]int {
	t.Helper()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"msg":"delivered"`)) {
			continue
		}
		var rec struct {
			Attrs struct {
				Content string `json:"content"`
			} `json:"attrs"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Attrs.Content != "" {
			out[rec.Attrs.Content]++
		}
	}
	return out
}

// afterCallback is an after-callback whose message content is content.
func afterCallback(content string) string {
	b, _ := json.Marshal(map[string]any{
		"callbackCommand": "callbackAfterSendSingleMsgCommand", "sendID": "alice", "recvID": "bob",
		"operationID": "op-" + content, "contentType": 101, "sessionType": 1, "content": content,
	})
	return string(b)
}

// TestQueueSurvivesKill9 is issue 15's crash test: under a load of
// after-callbacks, `imhook serve` is killed with SIGKILL 20 times at random
// moments and restarted on the same data directory. Every callback that got
// a 2xx must be processed at least once; duplicates are counted and
// reported, not failed: at least once allows them.
//
// The plugin counts its deliveries in its own KV state (a counter per
// event ID, and the event ID of each content), which the test reads from
// the state file once the last run has stopped: the count survives the
// kills and is exact.
func TestQueueSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the imhook binary")
	}
	p, data, logPath := startCounted(t, "crash", `{"grants":["kv"],"limits":{"max_kv_keys":1000000,"max_kv_bytes":268435456}}`)

	const kills = 20
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		refused  int
		failures int
		seq      int
	)
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	for round := range kills {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					seq++
					content := fmt.Sprintf("r%d-%d", round, seq)
					mu.Unlock()
					resp, err := client.Post(p.hooks+"/hooks/crash/callbackAfterSendSingleMsgCommand", "application/json", strings.NewReader(afterCallback(content)))
					mu.Lock()
					switch {
					case err != nil:
						failures++ // killed mid-request: not acknowledged
					case resp.StatusCode/100 == 2:
						acked[content] = true
					default:
						refused++
					}
					mu.Unlock()
					if err != nil {
						return // the server is gone until the restart
					}
					resp.Body.Close()
				}
			})
		}
		time.Sleep(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		wg.Wait()
		p = startLogged(t, data, logPath)
	}

	// The last run delivers what is left: wait until its queue is empty,
	// then stop it and read the plugin's counts.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, body, err := p.admin("GET", "/v1/tenants/crash/queue", "", nil)
		var st struct{ Pending, Dead int }
		if err == nil && status == 200 && json.Unmarshal(body, &st) == nil && st.Pending == 0 {
			if st.Dead != 0 {
				t.Errorf("%d dead letters: %s", st.Dead, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not drained 60s after the last restart: %d %s %v", status, body, err)
		}
	}
	p.stop(t)
	events, deliveries := countedState(t, data, "crash")
	var missing []string
	dups, total := 0, 0
	for c := range acked {
		id, ok := events[c]
		if !ok || deliveries[id] == 0 {
			missing = append(missing, c)
			continue
		}
		dups += deliveries[id] - 1
	}
	for _, n := range deliveries {
		total += n
	}
	t.Logf("%d kill -9 in %v: %d callbacks acknowledged (2xx), %d refused, %d cut off by a kill; %d deliveries of %d events counted in KV, %d of the acknowledged delivered more than once (%.2f%%)",
		kills, time.Since(start).Round(time.Millisecond), len(acked), refused, failures, total, len(deliveries), dups, 100*float64(dups)/float64(max(len(acked), 1)))
	if len(acked) < kills {
		t.Fatalf("only %d callbacks acknowledged: the load did not run", len(acked))
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged callbacks were never processed, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
}

// TestPoisonEventKillsProcess: an event whose delivery kills the process
// (here: kill -9 while it runs) is not redelivered forever. Each death is
// counted durably before the delivery runs; after the tenant's max
// attempts (3) the event is a dead letter saying the process died while
// running it, and it never runs a fourth time.
func TestPoisonEventKillsProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the imhook binary")
	}
	p, data, logPath := startCounted(t, "poison", `{"grants":["kv","nanotime"],"limits":{"call_timeout":60000000000},"queue":{"max_attempts":3}}`)
	// A delivery that runs for a minute: the test kills the process while
	// it runs, as a poison event that crashes the process would.
	const poison = "nap:60000 poison"
	resp, err := http.Post(p.hooks+"/hooks/poison/callbackAfterSendSingleMsgCommand", "application/json", strings.NewReader(afterCallback(poison)))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after-callback: %v %v", resp, err)
	}
	resp.Body.Close()
	for attempt := 1; attempt <= 3; attempt++ {
		// Wait until the plugin records that this attempt started, then kill.
		for deadline := time.Now().Add(60 * time.Second); startedAttempts(t, p, poison)[attempt] == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("attempt %d of the poison event never started; attempts seen %v", attempt, startedAttempts(t, p, poison))
			}
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p = startLogged(t, data, logPath)
	}
	var dead []map[string]any
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, body, err := p.admin("GET", "/v1/tenants/poison/queue/dead", "", nil)
		var list struct {
			DeadLetters []map[string]any `json:"dead_letters"`
		}
		if err == nil && status == 200 && json.Unmarshal(body, &list) == nil && len(list.DeadLetters) > 0 {
			dead = list.DeadLetters
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter 60s after the third death: %d %s %v; attempts started %v", status, body, err, startedAttempts(t, p, poison))
		}
	}
	last, _ := dead[0]["last_error"].(string)
	if len(dead) != 1 || !strings.Contains(last, "the process died while running this event") || dead[0]["attempts"] != float64(3) {
		t.Fatalf("dead letters %v; want the poison event, 3 attempts, last error saying the process died while running it", dead)
	}
	if got := startedAttempts(t, p, poison); len(got) != 3 || got[4] != 0 {
		t.Fatalf("attempts started %v; want 1, 2 and 3 once each, never a 4th", got)
	}
	t.Logf("dead letter after 3 deaths: attempts %v, last error %q", dead[0]["attempts"], last)
}

// startedAttempts reads which attempts of content the counted guest
// started (its "s:<attempt>:<content>" keys), through p's admin API.
func startedAttempts(t *testing.T, p *process, content string) map[int]int {
	t.Helper()
	out := map[int]int{}
	for attempt := 1; attempt <= 5; attempt++ {
		key := base64.RawURLEncoding.EncodeToString([]byte("s:" + strconv.Itoa(attempt) + ":" + content))
		if status, _, err := p.admin("GET", "/v1/tenants/poison/kv/"+key, "", nil); err == nil && status == 200 {
			out[attempt]++
		}
	}
	return out
}

// TestQueueReplicaTakesOver: two replicas share one redis-server; the load
// goes to one, both deliver, the first is killed mid-load with deliveries
// in flight, and the second finishes every acknowledged event: its pending
// ones, and the killed replica's claims once their lease is over.
func TestQueueReplicaTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the imhook binary")
	}
	srv := redistest.Start(t, redistest.Options{})
	buildServe(t)
	wasm := buildQueuedGuest(t)
	env := []string{"IMHOOK_STORE__BACKEND=redis", "IMHOOK_STORE__REDIS__ADDRESS=" + srv.Addr(),
		"IMHOOK_STORE__REDIS__POLL_INTERVAL=50ms", "IMHOOK_QUEUE__TIMEOUT=1s", "IMHOOK_QUEUE__LEASE=2s"}
	logA, logB := filepath.Join(t.TempDir(), "a.log"), filepath.Join(t.TempDir(), "b.log")
	a := startLogged(t, t.TempDir(), logA, env...)
	if status, body, err := a.admin("POST", "/v1/tenants", "application/json", []byte(`{"id":"rep","settings":{"grants":["nanotime"]}}`)); err != nil || status/100 != 2 {
		t.Fatalf("create tenant: %d %s %v", status, body, err)
	}
	if status, body, err := a.admin("POST", "/v1/tenants/rep/plugins/p/versions?activate=true", "application/wasm", wasm); err != nil || status/100 != 2 {
		t.Fatalf("upload: %d %s %v", status, body, err)
	}
	b := startLogged(t, t.TempDir(), logB, env...)

	var (
		mu    sync.Mutex
		acked []string
	)
	client := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Each delivery takes 20ms, so deliveries are in flight
				// when the kill comes.
				content := fmt.Sprintf("nap:20 w%d-%d", w, i)
				resp, err := client.Post(a.hooks+"/hooks/rep/callbackAfterSendSingleMsgCommand", "application/json", strings.NewReader(afterCallback(content)))
				if err != nil {
					return
				}
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					acked = append(acked, content)
					mu.Unlock()
				}
				// About 200 callbacks a second: what the two replicas
				// deliver (4 at a time each, 20ms each), so that a backlog
				// does not outlast the test.
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// The kill comes once deliveries are in flight: on a loaded machine the
	// replicas may have caught up with the load at any given moment.
	rc := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer rc.Close()
	const stream = "{imhook:q:rep}:s"
	time.Sleep(1500 * time.Millisecond)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if p, err := rc.XPending(context.Background(), stream, "imhook").Result(); err == nil && p.Count > 0 || time.Now().After(deadline) {
			break
		}
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	killedAt := time.Now()
	close(stop)
	wg.Wait()
	// The claims the killed replica held: entries pending for a consumer.
	pend, err := rc.XPending(context.Background(), stream, "imhook").Result()
	if err != nil {
		t.Fatal(err)
	}

	var missing []string
	var byA, byB map[string]int
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		byA, byB = deliveredContents(t, logA), deliveredContents(t, logB)
		missing = missing[:0]
		for _, c := range acked {
			if byA[c]+byB[c] == 0 {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	afterKill := 0
	for _, c := range acked {
		if byA[c] == 0 && byB[c] > 0 {
			afterKill++
		}
	}
	// The plugin logs before it returns: the last deliveries may still be
	// acking when their lines appear.
	var after *goredis.XPending
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if after, err = rc.XPending(context.Background(), stream, "imhook").Result(); err != nil {
			t.Fatal(err)
		}
		if after.Count == 0 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d callbacks acknowledged by the killed replica; it delivered %d, the survivor %d (%d of them only by the survivor); at the kill %d deliveries were claimed %v, after %v %d",
		len(acked), len(byA), len(byB), afterKill, pend.Count, pend.Consumers, time.Since(killedAt).Round(time.Millisecond), after.Count)
	if pend.Count == 0 {
		t.Errorf("no delivery was in flight at the kill: the test did not test a takeover")
	}
	if after.Count != 0 {
		t.Errorf("%d claims still pending after the survivor finished", after.Count)
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged callbacks were never processed, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
	if len(byA) == 0 || len(byB) == 0 {
		t.Fatalf("the replicas did not share the work: %d and %d deliveries", len(byA), len(byB))
	}
	_ = b
}
