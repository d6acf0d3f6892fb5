package plugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// testCacheDir is one compilation cache for the test binary, kept across runs
// in the user's cache directory: compiling the Go guest takes a second, and
// fifteen under -race. Tests of the cache itself use their own directories.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imhook-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testCacheDir = filepath.Join(dir, "cache")
	if uc, err := os.UserCacheDir(); err == nil {
		testCacheDir = filepath.Join(uc, "imhook", "plugins-test-wazero")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wat returns the committed .wasm of testdata/<name>.wat.
func wat(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatalf("read testdata/%s.wasm (run go generate after editing a .wat): %v", name, err)
	}
	return b
}

// goWasm builds testdata/go/<name> (or, for a name starting with "../", that
// package of the module) for wasip1 once per test binary.
func goWasm(t testing.TB, name string) []byte {
	t.Helper()
	pkg := "./testdata/go/" + name
	if strings.HasPrefix(name, "../") {
		pkg = name
	}
	return wasmbuild.GoOnce(t, pkg, wasmbuild.Options{})
}

// testLimits are the defaults with a small memory cap, so that memory bombs
// go off quickly, and a CPU limit no scheduling delay reaches: the limit is
// wall time, and this 2-core machine runs other jobs (load averages of 15 were
// seen) and -race. Tests of the CPU limit itself use shortLimits.
func testLimits() limits.Limits {
	l := limits.Default()
	l.CallTimeout = 10 * time.Second
	l.InitTimeout = 10 * time.Second
	l.MemoryPages = 256
	return l
}

// shortLimits are testLimits with a 300ms CPU limit, for runaway guests.
func shortLimits() limits.Limits {
	l := testLimits()
	l.CallTimeout = 300 * time.Millisecond
	return l
}

func newTestEngine(t testing.TB, cfg EngineOptions) *Engine {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
	}
	if cfg.Commands == nil {
		cfg.Commands = openim.CommandName // as the server runs it
	}
	if cfg.MaxCPUWait == 0 {
		// Tests about waiting for the CPU set their own; for the others a
		// call must not fail busy because the machine running the tests is
		// loaded (100 ms, the default, is short under the race detector).
		cfg.MaxCPUWait = time.Minute
	}
	e, err := NewEngine(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("engine close: %v", err)
		}
	})
	return e
}

func newTestTenant(t testing.TB, e *Engine, cfg SandboxOptions) *Sandbox {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "t1"
	}
	if cfg.Limits == (limits.Limits{}) {
		cfg.Limits = testLimits()
	}
	tn, err := e.NewSandbox(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

func load(t testing.TB, tn *Sandbox, name string, wasm []byte) *Plugin {
	t.Helper()
	p, err := tn.Load(context.Background(), name, wasm)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return p
}

const (
	seedCommand = "callbackAfterGroupMsgReadCommand"
	seedBody    = `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}` + "\n"
	seedReply   = `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`
)
