package replicas

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "embed"

	"github.com/imhook/imhook/internal/syncbuf"
)

// operatorToken is the admin.token every replica is started with.
const operatorToken = "replicas-test-operator-token"

// command is the callback the test plugins handle.
const command = "callbackBeforeSendSingleMsgCommand"

// Two versions of one plugin that answer differently; see testdata.
var (
	//go:embed testdata/blue.wasm
	blueWasm []byte
	//go:embed testdata/green.wasm
	greenWasm []byte
)

// variant returns the plugin answering errMsg color ("blue" or "green"),
// made a distinct upload (a new sha256) by a custom section holding tag.
// Custom sections do not change what a module does.
func variant(color, tag string) []byte {
	base := blueWasm
	if color == "green" {
		base = greenWasm
	}
	return withSection(base, tag)
}

// withSection returns base with a custom section holding tag: a distinct
// upload (a new sha256, compiled afresh) that does the same.
func withSection(base []byte, tag string) []byte {
	name := "imhook-test"
	sec := binary.AppendUvarint(nil, uint64(len(name)))
	sec = append(sec, name...)
	sec = append(sec, tag...)
	out := append([]byte(nil), base...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(sec)))
	return append(out, sec...)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// imhookBinary builds ./cmd/imhook once per test binary.
func imhookBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "imhook-replicas-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "imhook")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/imhook/imhook/cmd/imhook")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/imhook: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// replica is one `imhook serve` process.
type replica struct {
	t       *testing.T
	name    string
	bin     string
	dataDir string
	env     []string
	webAddr string // --addr; default 127.0.0.1:0

	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncbuf.Buffer
	web    string // http://host:port of the webhook listener
	admin  string // http://host:port of the admin listener
}

// startReplica runs `imhook serve` against the Redis at redisAddr, with its
// own data directory (compile cache), and waits until it serves.
func startReplica(t *testing.T, name, redisAddr string) *replica {
	t.Helper()
	r := &replica{t: t, name: name, bin: imhookBinary(t), dataDir: t.TempDir(), env: replicaEnv(redisAddr)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func replicaEnv(redisAddr string) []string {
	return append(os.Environ(),
		"IMHOOK_STORE__BACKEND=redis",
		"IMHOOK_STORE__REDIS__ADDRESS="+redisAddr,
		"IMHOOK_STORE__REDIS__DIAL_TIMEOUT=500ms",
		"IMHOOK_ADMIN__TOKEN="+operatorToken,
	)
}

// start runs the process and waits for its "imhook serving" line.
func (r *replica) start() {
	r.t.Helper()
	r.log = &syncbuf.Buffer{}
	webAddr := r.webAddr
	if webAddr == "" {
		webAddr = "127.0.0.1:0"
	}
	r.cmd = exec.Command(r.bin, "serve", "--addr", webAddr, "--admin-addr", "127.0.0.1:0",
		"--data-dir", r.dataDir, "--log-format", "json")
	r.cmd.Env = r.env
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			r.log.Write(append(line, '\n'))
			var rec map[string]any
			if json.Unmarshal(line, &rec) == nil && rec["msg"] == "imhook serving" {
				select {
				case serving <- rec:
				default:
				}
			}
		}
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	select {
	case rec := <-serving:
		r.web = "http://" + fmt.Sprint(rec["webhook"])
		r.admin = "http://" + fmt.Sprint(rec["admin"])
	case <-r.exited:
		r.t.Fatalf("replica %s exited at start:\n%s", r.name, r.log)
	case <-time.After(30 * time.Second):
		r.t.Fatalf("replica %s not serving after 30s:\n%s", r.name, r.log)
	}
}

// id returns the replica ID r announces (from its "imhook serving" line).
func (r *replica) id() string {
	id := ""
	for _, line := range strings.Split(r.log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "imhook serving" {
			id, _ = rec["replica"].(string) // the last start's
		}
	}
	if id == "" {
		r.t.Fatalf("replica %s logged no replica ID", r.name)
	}
	return id
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// stop ends the process gracefully (SIGTERM), or kills it after 10s.
func (r *replica) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.kill()
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

// adminClient waits as long as the admin listener may take: an upload of a
// Go guest compiles it, which takes tens of seconds on a crowded machine.
var adminClient = &http.Client{Timeout: 70 * time.Second}

// callback sends one single-chat callback for tenant and returns the status
// and the errMsg of the reply ("" for a continue reply).
func (r *replica) callback(tenant string) (int, string, error) {
	body := `{"callbackCommand":"` + command + `","sendID":"alice","recvID":"bob","contentType":101,"sessionType":1,"content":"{\"content\":\"hi\"}"}`
	req, err := http.NewRequest("POST", r.web+"/hooks/"+tenant+"/"+command, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("operationID", "replicas-test")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var reply struct {
		ErrMsg string `json:"errMsg"`
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		return resp.StatusCode, "", fmt.Errorf("reply %q: %w", b, err)
	}
	return resp.StatusCode, reply.ErrMsg, nil
}

// adminDo sends an operator request to the admin API and returns the status
// and body.
func (r *replica) adminDo(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, r.admin+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustAdmin is adminDo that fails t unless the status is wantStatus.
func (r *replica) mustAdmin(method, path, contentType string, body []byte, wantStatus int) []byte {
	r.t.Helper()
	status, b, err := r.adminDo(method, path, contentType, body)
	if err != nil || status != wantStatus {
		r.t.Fatalf("replica %s: %s %s = %d %s, %v; want %d", r.name, method, path, status, b, err, wantStatus)
	}
	return b
}

// upload uploads wasm as tenant's plugin "color" and activates it.
func (r *replica) upload(tenant string, wasm []byte) {
	r.t.Helper()
	r.mustAdmin("POST", "/v1/tenants/"+tenant+"/plugins/color/versions?activate=true", "application/wasm", wasm, http.StatusCreated)
}

// readyz returns the admin listener's /readyz status and body.
func (r *replica) readyz() (int, map[string]any) {
	r.t.Helper()
	status, b, err := r.adminDo("GET", "/readyz", "", nil)
	if err != nil {
		r.t.Fatalf("replica %s /readyz: %v", r.name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		r.t.Fatalf("replica %s /readyz body %q: %v", r.name, b, err)
	}
	return status, m
}

// waitServes polls r until a callback is answered with errMsg want, and
// returns when that happened. It fails t after limit.
func (r *replica) waitServes(tenant, want string, limit time.Duration) time.Time {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	var lastErr error
	for {
		status, got, err := r.callback(tenant)
		now := time.Now()
		if err == nil && status == http.StatusOK && got == want {
			return now
		}
		last, lastErr = fmt.Sprintf("%d %q", status, got), err
		if now.After(deadline) {
			r.t.Fatalf("replica %s: still answering %s (%v) %s after the change, want errMsg %q\n%s", r.name, last, lastErr, limit, want, r.log)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// reply is what a callback got.
type reply struct {
	Status   int
	ErrCode  int    `json:"errCode"`
	ErrMsg   string `json:"errMsg"`
	ErrDlt   string `json:"errDlt"`
	NextCode int    `json:"nextCode"`
	Body     string
}

// stopped reports whether OpenIM would block the user's action.
func (r reply) stopped() bool { return r.Status != http.StatusOK || r.NextCode == 1 }

// send sends one single-chat callback with content for tenant to the
// webhook listener at web (http://host:port).
func send(web, tenant, content string) (reply, error) {
	inner, _ := json.Marshal(map[string]string{"content": content})
	body, _ := json.Marshal(map[string]any{"callbackCommand": command, "sendID": "alice", "recvID": "bob",
		"contentType": 101, "sessionType": 1, "content": string(inner)})
	req, err := http.NewRequest("POST", web+"/hooks/"+tenant+"/"+command, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	out := reply{Status: resp.StatusCode, Body: string(b)}
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("reply %q: %w", b, err)
	}
	out.Status, out.Body = resp.StatusCode, string(b)
	return out, nil
}

// logCount returns how many of r's log lines have msg.
func (r *replica) logCount(msg string) int {
	n := 0
	for _, line := range strings.Split(r.log.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			n++
		}
	}
	return n
}

// waitReadyz polls the admin /readyz until cond holds for its status code
// and body, failing t after bound.
func (r *replica) waitReadyz(what string, cond func(int, map[string]any) bool) (int, map[string]any) {
	r.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		status, body := r.readyz()
		if cond(status, body) {
			return status, body
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("replica %s: /readyz = %d %v after %s, want %s\n%s", r.name, status, body, bound, what, r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
