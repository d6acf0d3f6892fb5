package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// serveBuild holds the imhook binary and two versions of the slow test guest,
// built once for the tests of this file.
var serveBuild struct {
	once   sync.Once
	err    error
	binary string
	wasm   map[string][]byte // "1", "2" -> module
}

// buildServe builds the imhook binary and the guests into a directory removed
// at process exit by TestMain's cleanup (the OS temp dir otherwise).
func buildServe(t *testing.T) {
	t.Helper()
	serveBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "imhook-serve-test-")
		if err != nil {
			serveBuild.err = err
			return
		}
		buildDirs = append(buildDirs, dir)
		serveBuild.binary = filepath.Join(dir, "imhook")
		out, err := exec.Command("go", "build", "-o", serveBuild.binary, ".").CombinedOutput()
		if err != nil {
			serveBuild.err = fmt.Errorf("build imhook: %v\n%s", err, out)
			return
		}
		serveBuild.wasm = map[string][]byte{}
		for _, v := range []string{"1", "2"} {
			opts := wasmbuild.Options{LDFlags: "-X main.version=" + v}
			if serveBuild.wasm[v], serveBuild.err = wasmbuild.Go(context.Background(), "../../host/testdata/slow", opts); serveBuild.err != nil {
				return
			}
		}
	})
	if serveBuild.err != nil {
		t.Fatal(serveBuild.err)
	}
}

// buildDirs are removed by TestMain after the tests.
var buildDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range buildDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// process is one `imhook serve` subprocess.
type process struct {
	cmd         *exec.Cmd
	hooks, adm  string // base URLs
	stderr      *syncbuf.Buffer
	operatorTok string
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServe runs `imhook serve` on dataDir and waits until it is ready. The
// ports it picks were free a moment before; when another test took one in
// between, the server says so and exits, and it starts again on others.
func startServe(t *testing.T, dataDir string) *process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, taken := startServeOnce(t, dataDir)
		if !taken {
			return p
		}
		if attempt == 5 {
			t.Fatalf("imhook serve found its ports taken 5 times; stderr:\n%s", p.stderr)
		}
	}
}

// startServeOnce is one attempt of startServe; taken reports that a port
// was taken (the process has exited).
func startServeOnce(t *testing.T, dataDir string) (p *process, taken bool) {
	t.Helper()
	hp, ap := freePort(t), freePort(t)
	p = &process{
		hooks:       fmt.Sprintf("http://127.0.0.1:%d", hp),
		adm:         fmt.Sprintf("http://127.0.0.1:%d", ap),
		stderr:      &syncbuf.Buffer{},
		operatorTok: "operator-token-for-the-crash-test",
	}
	p.cmd = exec.Command(serveBuild.binary, "serve", "--data-dir", dataDir,
		"--addr", fmt.Sprintf("127.0.0.1:%d", hp), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", ap))
	p.cmd.Env = append(os.Environ(), "IMHOOK_ADMIN__TOKEN="+p.operatorTok, "IMHOOK_LOG__LEVEL=warn")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.adm + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, false
			}
		}
		if strings.Contains(p.stderr.String(), "address already in use") {
			p.cmd.Wait() // it exits when it cannot listen
			return p, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("imhook serve not ready after 60s; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// admin sends an operator request to the admin API.
func (p *process) admin(method, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, p.adm+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.operatorTok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestServeKilledDuringUploads kills `imhook serve` with SIGKILL while
// versions are being uploaded and activated through the admin API, restarts
// it on the same data directory, and checks that it comes back with a
// consistent registry: the plugin's active version is one that was uploaded,
// and it is the one answering callbacks.
func TestServeKilledDuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the imhook binary")
	}
	buildServe(t)
	data := t.TempDir()
	p := startServe(t, data)
	status, body, err := p.admin("POST", "/v1/tenants", "application/json", []byte(`{"id":"crash"}`))
	if err != nil || status/100 != 2 {
		t.Fatalf("create tenant: %d %s %v", status, body, err)
	}
	replyOf := map[string]string{} // active hash -> errMsg the version answers
	for round := range 3 {
		// Upload alternating versions until the kill.
		var (
			wg       sync.WaitGroup
			stop     = make(chan struct{})
			uploaded atomic.Int64
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := []string{"1", "2"}[i%2]
				if status, _, err := p.admin("POST", "/v1/tenants/crash/plugins/p/versions?activate=true", "application/wasm", serveBuild.wasm[v]); err == nil && status/100 == 2 {
					uploaded.Add(1)
				}
			}
		}()
		// Kill at a random moment after at least one upload went through, so
		// the kill lands in the middle of a later upload or activation.
		deadline := time.Now().Add(60 * time.Second)
		for uploaded.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		close(stop)
		wg.Wait()

		p = startServe(t, data)
		status, body, err := p.admin("GET", "/v1/tenants/crash", "", nil)
		if err != nil || status != 200 {
			t.Fatalf("round %d: tenant after restart: %d %s %v", round, status, body, err)
		}
		var tenant struct {
			Plugins []struct {
				Name     string
				Active   string
				Versions []struct{ Hash string }
			}
		}
		if err := json.Unmarshal(body, &tenant); err != nil {
			t.Fatal(err)
		}
		if len(tenant.Plugins) == 0 || tenant.Plugins[0].Active == "" {
			t.Logf("round %d: killed before the first activation committed", round)
			continue
		}
		pl := tenant.Plugins[0]
		found := false
		for _, v := range pl.Versions {
			found = found || v.Hash == pl.Active
		}
		if !found {
			t.Fatalf("round %d: active version %s is not among the kept versions %+v", round, pl.Active, pl.Versions)
		}
		r, err := http.Post(p.hooks+"/hooks/crash/callbackBeforeSendSingleMsgCommand", "application/json",
			strings.NewReader(`{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b","content":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		var rep struct{ ErrMsg string }
		err = json.NewDecoder(r.Body).Decode(&rep)
		r.Body.Close()
		if err != nil || !strings.HasPrefix(rep.ErrMsg, "slow v") {
			t.Fatalf("round %d: callback after restart: %+v %v; stderr:\n%s", round, rep, err, p.stderr)
		}
		if prev, ok := replyOf[pl.Active]; ok && prev != rep.ErrMsg {
			t.Fatalf("round %d: version %s answered %q, earlier %q", round, pl.Active[:12], rep.ErrMsg, prev)
		}
		replyOf[pl.Active] = rep.ErrMsg
	}
	if len(replyOf) == 0 {
		t.Error("no round got as far as an activation; the test proved nothing")
	}
	// Stop the last process gracefully: SIGTERM must exit 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("imhook serve after SIGTERM: %v; stderr:\n%s", err, p.stderr)
	}
}

// TestServeFlags covers serve's exits that need no server.
func TestServeFlags(t *testing.T) {
	t.Setenv("IMHOOK_ADMIN__TOKEN", "supersecret-operator-token")
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
		notOut   string
	}{
		{name: "print config redacts", args: []string{"--print-config", "--addr", ":9999"}, code: 0,
			out: "admin.token: REDACTED", notOut: "supersecret"},
		{name: "print config shows flags", args: []string{"--print-config", "--addr", ":9999"}, code: 0, out: "server.addr: :9999"},
		{name: "help", args: []string{"--help"}, code: 0, out: "Usage: imhook serve"},
		{name: "unknown flag", args: []string{"--nope"}, code: 2, err: "unknown flag"},
		{name: "stray argument", args: []string{"extra"}, code: 2, err: "unexpected arguments"},
		{name: "invalid value", args: []string{"--log-level", "loud"}, code: 2, err: "config key[log.level]"},
		{name: "missing config file", args: []string{"--config", "/nonexistent/imhook.yaml"}, code: 2, err: "/nonexistent/imhook.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := serveMain(t.Context(), tt.args, nil, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, &stderr)
			}
			if !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("stdout %q stderr %q; want %q and %q in them", &stdout, &stderr, tt.out, tt.err)
			}
			if tt.notOut != "" && strings.Contains(stdout.String(), tt.notOut) {
				t.Errorf("stdout leaks %q:\n%s", tt.notOut, &stdout)
			}
		})
	}
}

// TestSpareP: serve keeps a P free of guests: with several cores a CPU slot
// per core but one, with one core one slot and a second P; unless the
// operator chose GOMAXPROCS or sandbox.cpu_slots.
func TestSpareP(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(n)
	var cfg host.Config
	spareP(&cfg, func(string) string { return "3" })
	if cfg.Sandbox.CPUSlots != 0 || runtime.GOMAXPROCS(0) != n {
		t.Fatal("GOMAXPROCS set by the operator was overridden")
	}
	cfg.Sandbox.CPUSlots = 5
	spareP(&cfg, func(string) string { return "" })
	if cfg.Sandbox.CPUSlots != 5 || runtime.GOMAXPROCS(0) != n {
		t.Fatal("sandbox.cpu_slots set by the operator was overridden")
	}
	for _, cores := range []int{1, 2, 8} {
		runtime.GOMAXPROCS(cores)
		cfg.Sandbox.CPUSlots = 0
		spareP(&cfg, func(string) string { return "" })
		wantSlots, wantP := cores-1, cores
		if cores == 1 {
			wantSlots, wantP = 1, 2
		}
		if cfg.Sandbox.CPUSlots != wantSlots || runtime.GOMAXPROCS(0) != wantP {
			t.Errorf("%d cores: slots %d, GOMAXPROCS %d; want %d and %d", cores, cfg.Sandbox.CPUSlots, runtime.GOMAXPROCS(0), wantSlots, wantP)
		}
	}
}
