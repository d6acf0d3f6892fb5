package host_test

import (
	"bytes"
	"context"
	"encoding/json"

	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// guests are the plugins the tests run, by name: the real examples and the
// test guests of host/testdata, each a package of the module and its linker
// flags.
var guests = map[string]struct{ pkg, ldflags string }{
	"moderation":  {"examples/moderation", ""},
	"policy":      {"examples/policy", ""},
	"readsync":    {"examples/readsync", ""},
	"readforward": {"examples/readforward", ""},
	"trivial":     {"examples/trivial", ""},
	"every":       {"host/testdata/every", ""},
	"appender":    {"host/testdata/appender", ""},
	"slow1":       {"host/testdata/slow", "-X main.version=1"},
	"slow2":       {"host/testdata/slow", "-X main.version=2"},
	"queued":      {"host/testdata/queued", ""},
}

// guestWasm returns the module of a guest, built once per test binary.
func guestWasm(t testing.TB, name string) []byte {
	t.Helper()
	g, ok := guests[name]
	if !ok {
		t.Fatalf("no guest %q", name)
	}
	return wasmbuild.GoOnce(t, "github.com/imhook/imhook/"+g.pkg, wasmbuild.Options{LDFlags: g.ldflags})
}

// cacheDir is the compile cache shared by every test server, so each module
// is compiled once per test binary.
var cacheDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "imhook-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	cacheDir = testCacheDir(dir)
	return m.Run()
}

// testCacheDir returns the compile cache for this run. Compiling the Go
// guests is the slowest part of these tests (seconds each, ten times that
// under -race), so the cache is kept across runs in the user cache directory;
// wazero keys its entries by its own version and the module's hash, so a
// stale entry is never used. IMHOOK_TEST_FRESH_CACHE=1 uses a fresh one.
func testCacheDir(tmp string) string {
	if os.Getenv("IMHOOK_TEST_FRESH_CACHE") == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir := filepath.Join(base, "imhook-test", "wazero")
			if os.MkdirAll(dir, 0o700) == nil {
				return dir
			}
		}
	}
	return filepath.Join(tmp, "cache")
}

// env is one imhook server on loopback ports with its own store.
type env struct {
	t         testing.TB
	srv       *host.Server
	base      string // http://127.0.0.1:port of the webhook listener
	done      chan error
	stop      context.CancelFunc
	closeOnce sync.Once
}

// close stops the server and waits for Run to return, at the latest when
// the test ends.
func (e *env) close() {
	e.closeOnce.Do(func() {
		e.stop()
		if err := <-e.done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	})
}

// start runs a server on fresh loopback ports and a fresh store; edit
// adjusts the configuration first. The server stops at the end of the test.
func start(t testing.TB, edit func(*host.Config)) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return startLogging(t, edit, logger)
}

// startLogging is start with the server logging to logger.
func startLogging(t testing.TB, edit func(*host.Config), logger *slog.Logger) *env {
	t.Helper()
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = cacheDir
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Sandbox.Limits.CallTimeout = time.Second // -race and a busy machine
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, logger)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv, base: "http://" + srv.Addr().String(), done: make(chan error, 1), stop: stop}
	go func() { e.done <- srv.Run(ctx) }()
	t.Cleanup(e.close)
	deadline := time.Now().Add(30 * time.Second)
	for !srv.Directory().Ready() {
		if time.Now().After(deadline) {
			t.Fatal("directory not ready after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e
}

// tenant creates a tenant and installs plugins (name, guest) in order,
// waiting until the live directory serves all of them.
func (e *env) tenant(id string, s registry.Settings, plugins ...string) {
	e.t.Helper()
	if _, _, err := e.srv.Registry().CreateTenant(context.Background(), id, s); err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(plugins); i += 2 {
		e.install(id, plugins[i], plugins[i+1])
	}
	// The live directory applies the registry's changes asynchronously: wait
	// until it knows the tenant (install already waited when there were
	// plugins).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := e.srv.Directory().Lookup([]byte(id)); ok {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("tenant[%s] not in the live directory after 60s", id)
		}
	}
}

// install uploads and activates guest as tenant's plugin name and waits
// until it serves.
func (e *env) install(tenant, name, guest string) string {
	e.t.Helper()
	hash, err := e.srv.Install(context.Background(), tenant, name, guestWasm(e.t, guest))
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitServing(tenant, name, hash)
	return hash
}

// waitServing waits until the live directory serves hash as tenant's plugin.
func (e *env) waitServing(tenant, name, hash string) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, ok := e.srv.Directory().Stats(tenant); ok {
			for _, p := range st.Plugins {
				if p.Name == name && p.Serving == hash {
					return
				}
				if p.Name == name && p.LoadError != "" && p.Active == hash {
					e.t.Fatalf("tenant[%s] plugin[%s]: %s", tenant, name, p.LoadError)
				}
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("tenant[%s] plugin[%s] version[%s] not serving after 60s", tenant, name, hash[:12])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// admin sends one admin API request with a bearer token and returns the
// status and the body.
func (e *env) admin(method, path, token, contentType string, body []byte) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, "http://"+e.srv.AdminAddr().String()+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// reply is the shape OpenIM decodes every reply into: Go's encoding/json
// into int32 and string fields, so a string where a number belongs fails.
type reply struct {
	ActionCode int32  `json:"actionCode"`
	ErrCode    int32  `json:"errCode"`
	ErrMsg     string `json:"errMsg"`
	ErrDlt     string `json:"errDlt"`
	NextCode   int32  `json:"nextCode"`
	Error      string `json:"error"` // imhook's own rejections only
}

// result is one HTTP exchange.
type result struct {
	status int
	header http.Header
	body   []byte
	reply  reply
	err    error // transport or decode error
}

var client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// post sends body to path (which may hold a query) the way OpenIM does and
// decodes the reply as OpenIM would.
func (e *env) post(path, body string, header ...string) result {
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(req)
}

func do(req *http.Request) result {
	resp, err := client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
	if err == nil {
		if derr := json.Unmarshal(b, &r.reply); derr != nil {
			r.err = fmt.Errorf("reply %q does not decode as an OpenIM reply: %w", b, derr)
		}
	}
	return r
}

// msgBody is a callbackBeforeSendSingleMsgCommand body with the given text.
func msgBody(text string) string {
	content, _ := json.Marshal(map[string]string{"content": text})
	b, _ := json.Marshal(map[string]any{
		"callbackCommand": "callbackBeforeSendSingleMsgCommand", "sendID": "alice", "recvID": "bob",
		"operationID": "op-1", "contentType": 101, "sessionType": 1, "content": string(content),
	})
	return string(b)
}

const sendSingle = "/callbackBeforeSendSingleMsgCommand"
