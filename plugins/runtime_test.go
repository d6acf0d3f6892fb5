package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/openim"
)

func call(t *testing.T, p *Plugin, body string) string {
	t.Helper()
	r, _, err := p.Call(context.Background(), seedCommand, []byte(body), nil)
	if err != nil {
		t.Fatalf("call %q: %v", body, err)
	}
	return string(r)
}

func TestConfigHostFunction(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	long := strings.Repeat("v", 100) // bigger than the guest's first 64-byte buffer
	cfg := SandboxOptions{ID: "acme", Config: map[string]string{"greeting": "hello", "long": long, "empty": ""}}
	tn := newTestTenant(t, e, cfg)
	p := load(t, tn, "kitchen", goWasm(t, "kitchen"))
	tests := []struct{ key, want string }{
		{"greeting", "hello"},
		{"long", long},
		{"missing", "<unset>"},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			if got := call(t, p, "!config "+tc.key); got != tc.want {
				t.Errorf("config %q = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
	t.Run("update applies to the next call", func(t *testing.T) {
		cfg.Config = map[string]string{"greeting": "bonjour"}
		tn.Update(cfg)
		if got := call(t, p, "!config greeting"); got != "bonjour" {
			t.Errorf("after Update: %q", got)
		}
	})
}

func TestLogs(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	tn := newTestTenant(t, e, SandboxOptions{ID: "acme", Logger: logger})
	p := load(t, tn, "echo", wat(t, "echo"))

	t.Run("captured", func(t *testing.T) {
		_, info, err := p.Call(WithLogCapture(context.Background()), seedCommand, []byte("#note"), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []LogLine{{Level: slog.LevelWarn, Message: "#note"}}
		if len(info.Logs) != 1 || info.Logs[0] != want[0] {
			t.Errorf("Logs = %+v, want %+v", info.Logs, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if buf.Len() != 0 {
			t.Errorf("captured line also went to the logger: %s", buf.String())
		}
	})
	t.Run("to the tenant's logger", func(t *testing.T) {
		_, info, err := p.Call(context.Background(), seedCommand, []byte("#line"), nil)
		if err != nil || info.Logs != nil {
			t.Fatalf("Logs %+v, err %v", info.Logs, err)
		}
		mu.Lock()
		defer mu.Unlock()
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatalf("log output %q: %v", buf.String(), err)
		}
		want := map[string]any{"level": "WARN", "msg": "#line", "tenant": "acme", "plugin": "echo",
			"plugin_version": p.Hash()[:12], "command": seedCommand}
		for k, v := range want {
			if rec[k] != v {
				t.Errorf("log record %s = %v, want %v", k, rec[k], v)
			}
		}
	})
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestGrants(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	type clock struct {
		Wall int64  `json:"wall"`
		Rand string `json:"rand"`
		Mono int64  `json:"mono"`
	}
	read := func(t *testing.T, g limits.Grants, id string) clock {
		tn := newTestTenant(t, e, SandboxOptions{ID: id, Grants: g})
		var c clock
		if err := json.Unmarshal([]byte(call(t, load(t, tn, "kitchen", goWasm(t, "kitchen")), "!clock")), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("none", func(t *testing.T) {
		a, b := read(t, limits.Grants{}, "a"), read(t, limits.Grants{}, "b")
		if a.Wall != 1640995200 {
			t.Errorf("wall clock %d, want the fake 1640995200", a.Wall)
		}
		if a.Rand != b.Rand {
			t.Errorf("random %s and %s differ, want the deterministic source", a.Rand, b.Rand)
		}
	})
	t.Run("all", func(t *testing.T) {
		a, b := read(t, limits.Grants{Walltime: true, Nanotime: true, Random: true}, "c"),
			read(t, limits.Grants{Walltime: true, Nanotime: true, Random: true}, "d")
		if now := time.Now().Unix(); a.Wall < now-60 || a.Wall > now+60 {
			t.Errorf("wall clock %d, want about %d", a.Wall, now)
		}
		if a.Rand == b.Rand {
			t.Errorf("random %s twice, want a real source", a.Rand)
		}
	})
	t.Run("sleep without grant", func(t *testing.T) {
		tn := newTestTenant(t, e, SandboxOptions{ID: "sleepy"})
		p := load(t, tn, "kitchen", goWasm(t, "kitchen"))
		start := time.Now()
		got := call(t, p, "!sleep")
		// A real sleep takes at least the whole 10 s; anything under it,
		// however loaded the machine, is the fake clock moving on.
		if took := time.Since(start); took >= 10*time.Second {
			t.Errorf("a fake sleep of 10 s blocked the host for %s", took)
		}
		if got < "10000000000" || len(got) != len("10000000000") {
			t.Errorf("guest measured %s ns, want at least 10s of fake time", got)
		}
	})
}

func TestRecycle(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxCallsPerInstance = 3
	p := load(t, newTestTenant(t, e, SandboxOptions{Limits: lim}), "echo", wat(t, "echo"))
	// Load made the first instance and spent no call on it.
	for range 10 {
		call(t, p, "x")
	}
	if s := p.Stats(); s.Recycled != 3 || s.Created != 4 || s.Live != 1 || s.Dropped != 0 {
		t.Errorf("stats %+v, want 3 recycled of 4 created", s)
	}
}

// napper loads the kitchen guest with real sleeps, so that calls hold their
// instance for a known time.
func napper(t *testing.T, e *Engine, id string, maxInstances int) *Plugin {
	lim := testLimits()
	lim.MaxInstances = maxInstances
	lim.CallTimeout = 5 * time.Second
	tn := newTestTenant(t, e, SandboxOptions{ID: id, Limits: lim, Grants: limits.Grants{Nanotime: true}})
	return load(t, tn, "kitchen", goWasm(t, "kitchen"))
}

func TestPoolBound(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := napper(t, e, "acme", 2)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := p.Call(context.Background(), seedCommand, []byte("!nap 500"), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call: %v", err)
		}
	}
	if s := p.Stats(); s.Live != 2 || s.Created != 2 || s.Waits != 1 {
		t.Errorf("stats %+v, want 2 instances and 1 wait", s)
	}

	t.Run("deadline while waiting", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); p.Call(context.Background(), seedCommand, []byte("!nap 1000"), nil) }()
		}
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, _, err := p.Call(ctx, seedCommand, []byte(seedBody), nil)
		if !errors.Is(err, ErrNoInstance) || KindOf(err) != KindInstances {
			t.Errorf("error %v, want ErrNoInstance", err)
		}
		wg.Wait()
		if got := call(t, p, seedBody); got != seedReply {
			t.Errorf("after the wait: %q", got)
		}
	})
}

func TestGlobalBudget(t *testing.T) {
	e := newTestEngine(t, EngineOptions{MaxInstances: 1})
	a := napper(t, e, "a", 4) // warms an instance to read the module's metadata
	b := napper(t, e, "b", 4) // the same bytes and limits: its pool starts empty
	if s := b.Stats(); s.Live != 0 || s.Created != 0 {
		t.Errorf("b: stats %+v, want no instance before its first call", s)
	}
	if got := call(t, b, seedBody); got != seedReply { // evicts a's
		t.Errorf("b: %q", got)
	}
	if s := a.Stats(); s.Evicted != 1 || s.Live != 0 {
		t.Errorf("a: stats %+v, want its idle instance evicted for b", s)
	}
	if got := call(t, a, seedBody); got != seedReply { // evicts b's
		t.Errorf("a: %q", got)
	}
	if s := b.Stats(); s.Evicted != 1 {
		t.Errorf("b: stats %+v, want evicted for a", s)
	}

	t.Run("waits for a busy instance", func(t *testing.T) {
		done := make(chan error)
		go func() {
			_, _, err := a.Call(context.Background(), seedCommand, []byte("!nap 1000"), nil)
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, _, err := b.Call(ctx, seedCommand, []byte(seedBody), nil)
		cancel()
		if !errors.Is(err, ErrNoInstance) {
			t.Errorf("b while a busy, short deadline: %v, want ErrNoInstance", err)
		}
		r, _, err := b.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		if err != nil || string(r) != seedReply {
			t.Errorf("b while a busy, long deadline: %q, %v", r, err)
		}
		if err := <-done; err != nil {
			t.Errorf("a: %v", err)
		}
	})
}

func TestCompileCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	wasm := wat(t, "echo")
	files := func() map[string]time.Time {
		m := map[string]time.Time{}
		filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				m[path] = fi.ModTime()
			}
			return nil
		})
		return m
	}

	e1 := newTestEngine(t, EngineOptions{CacheDir: dir})
	load(t, newTestTenant(t, e1, SandboxOptions{ID: "a"}), "echo", wasm)
	first := files()
	if len(first) == 0 {
		t.Fatal("nothing written to the cache directory")
	}
	load(t, newTestTenant(t, e1, SandboxOptions{ID: "b"}), "echo", wasm)
	e1.Close(context.Background())

	e2 := newTestEngine(t, EngineOptions{CacheDir: dir}) // a restart
	p := load(t, newTestTenant(t, e2, SandboxOptions{ID: "a"}), "echo", wasm)
	if got := call(t, p, "hi"); got != "hi" {
		t.Errorf("from cache: %q", got)
	}
	again := files()
	if len(again) != len(first) {
		t.Errorf("cache has %d files after a second tenant and a restart, want the first %d reused", len(again), len(first))
	}
	for f, mt := range first {
		if !again[f].Equal(mt) {
			t.Errorf("%s was rewritten", f)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}

func TestCacheDirMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := NewEngine(context.Background(), EngineOptions{CacheDir: dir})
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("NewEngine on a 0777 directory: %v, want a refusal", err)
	}
}

// TestHotSwap swaps a tenant's plugin 20 times under concurrent calls, doing
// the one retry on ErrClosed the way the host does, and expects no failure.
func TestHotSwap(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxInstances = 2
	tn := newTestTenant(t, e, SandboxOptions{Limits: lim})
	versions := [][]byte{wat(t, "echo"), withCustomSection(wat(t, "echo"), "v2")}
	var cur atomic.Pointer[Plugin]
	cur.Store(load(t, tn, "echo", versions[0]))

	var calls, retries, fails atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				// What the host does: a plugin closed between reading the
				// pointer and the call is replaced by the current one, as
				// often as that happens (each round reads a newer pointer).
				p := cur.Load()
				reply, _, err := p.Call(context.Background(), seedCommand, []byte("swap"), nil)
				for errors.Is(err, ErrClosed) {
					retries.Add(1)
					next := cur.Load()
					if next == p {
						break // closed while current: a real failure
					}
					p = next
					reply, _, err = p.Call(context.Background(), seedCommand, []byte("swap"), nil)
				}
				calls.Add(1)
				if err != nil || string(reply) != "swap" {
					fails.Add(1)
					t.Errorf("call during swap: %q, %v", reply, err)
				}
			}
		}()
	}
	for k := 1; k <= 20; k++ {
		next := load(t, tn, "echo", versions[k%2])
		old := cur.Swap(next)
		if err := old.Close(context.Background()); err != nil {
			t.Errorf("close old: %v", err)
		}
		if _, _, err := old.Call(context.Background(), seedCommand, nil, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("call on a closed plugin: %v, want ErrClosed", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	t.Logf("%d calls, %d retried on ErrClosed, %d failed", calls.Load(), retries.Load(), fails.Load())
	if calls.Load() == 0 || fails.Load() != 0 {
		t.Errorf("%d calls, %d failed", calls.Load(), fails.Load())
	}
}

// withCustomSection returns wasm with a custom section appended: a different
// hash, the same behaviour.
func withCustomSection(wasm []byte, name string) []byte {
	payload := append(append([]byte{byte(len(name))}, name...), 1) // wazero wants a non-empty body
	out := append([]byte{}, wasm...)
	return append(append(out, 0, byte(len(payload))), payload...)
}

func TestCloseWaitsForCalls(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := napper(t, e, "acme", 2)
	done := make(chan error)
	go func() {
		_, _, err := p.Call(context.Background(), seedCommand, []byte("!nap 800"), nil)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("Close returned after %s, before the call in flight", took)
	}
	if err := <-done; err != nil {
		t.Errorf("call in flight during Close: %v", err)
	}
	if s := p.Stats(); s.Live != 0 {
		t.Errorf("stats after Close %+v", s)
	}
}

func TestParseCommands(t *testing.T) {
	tests := []struct {
		list    string
		want    string
		wantErr string
	}{
		{list: "callbackAfterGroupMsgReadCommand", want: "callbackAfterGroupMsgReadCommand"},
		{list: " callbackBeforeSendSingleMsgCommand , callbackAfterGroupMsgReadCommand,", want: "callbackBeforeSendSingleMsgCommand,callbackAfterGroupMsgReadCommand"},
		{list: "callbackGroupMsgReadCommand,callbackAfterGroupMsgReadCommand", want: "callbackAfterGroupMsgReadCommand"},
		{list: "", wantErr: "imhook_commands returned no command: the module would never be called"},
		{list: "callbackNope", wantErr: "imhook_commands lists command[callbackNope], which is not a callback command this host serves"},
	}
	for _, tc := range tests {
		t.Run(tc.list, func(t *testing.T) {
			got, err := parseCommands(tc.list, openim.CommandName)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cause := errors.New("wasm error: unreachable")
	tests := []struct {
		name    string
		err     error
		is      []error
		isNot   []error
		message string
	}{
		{"cpu time", &CallError{Kind: KindCPUTime, Tenant: "a", Plugin: "p", Command: "c"},
			[]error{ErrCPUTime, context.DeadlineExceeded}, []error{ErrTrap, ErrInvalidModule},
			"tenant[a] plugin[p] command[c]: cpu_time: call exceeded its cpu time limit"},
		{"trap", &CallError{Kind: KindTrap, Tenant: "a", Plugin: "p", Command: "c", Err: cause},
			[]error{ErrTrap, cause}, []error{ErrCPUTime, context.DeadlineExceeded},
			"tenant[a] plugin[p] command[c]: trap: guest trapped: wasm error: unreachable"},
		{"load, invalid", &LoadError{Tenant: "a", Plugin: "p", Hash: "0123456789abcdef", Kind: KindInvalidModule, Err: errors.New("no")},
			[]error{ErrInvalidModule}, []error{ErrCPUTime},
			"tenant[a] plugin[p]: invalid plugin module sha256[0123456789ab]: no"},
		{"load, init loop", &LoadError{Kind: KindCPUTime, Err: errors.New("instantiate")},
			[]error{ErrInvalidModule, ErrCPUTime, context.DeadlineExceeded}, []error{ErrTrap},
			"invalid plugin module: cpu_time: instantiate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range tc.is {
				if !errors.Is(tc.err, target) {
					t.Errorf("errors.Is(%v, %v) = false", tc.err, target)
				}
			}
			for _, target := range tc.isNot {
				if errors.Is(tc.err, target) {
					t.Errorf("errors.Is(%v, %v) = true", tc.err, target)
				}
			}
			if tc.err.Error() != tc.message {
				t.Errorf("Error() = %q\nwant      %q", tc.err.Error(), tc.message)
			}
		})
	}
	for k := KindCPUTime; k <= KindInvalidModule; k++ {
		if k.sentinel() == nil || strings.HasPrefix(k.String(), "kind(") || KindOf(k.sentinel()) != k {
			t.Errorf("kind %d has no name or sentinel", k)
		}
	}
}

// TestConcurrentLoads loads the same bytes four times at once on one tenant:
// one compile, one shared compiled module, released with the last plugin.
func TestConcurrentLoads(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{})
	wasm := wat(t, "echo")
	plugins := make([]*Plugin, 4)
	var wg sync.WaitGroup
	for k := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := tn.Load(context.Background(), "echo", wasm)
			if err != nil {
				t.Error(err)
				return
			}
			plugins[k] = p
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	compiled := func() (n, refs int) {
		e.rtMu.Lock()
		defer e.rtMu.Unlock()
		for _, tr := range e.runtimes {
			for _, cm := range tr.compiled {
				n++
				refs += cm.refs
			}
		}
		return n, refs
	}
	if n, refs := compiled(); n != 1 || refs != 4 {
		t.Errorf("%d compiled modules with %d references, want 1 with 4", n, refs)
	}
	for _, p := range plugins {
		if got := call(t, p, "x"); got != "x" {
			t.Errorf("call: %q", got)
		}
		p.Close(context.Background())
	}
	if n, _ := compiled(); n != 0 {
		t.Errorf("%d compiled modules left after closing every plugin", n)
	}
	e.rtMu.Lock()
	defer e.rtMu.Unlock()
	if len(e.runtimes) != 0 {
		t.Errorf("%d runtimes, want none once no plugin uses them", len(e.runtimes))
	}
}

// TestUpdateLimits checks that new limits apply to plugins loaded after
// Update, in a new runtime when the memory cap changes, and that the old
// runtime goes with its last plugin.
func TestUpdateLimits(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	cfg := SandboxOptions{ID: "acme", Limits: testLimits()}
	tn := newTestTenant(t, e, cfg)
	old := load(t, tn, "echo", wat(t, "echo"))

	cfg.Limits.MemoryPages = 128
	cfg.Limits.MaxInputBytes = 10
	tn.Update(cfg)
	cur := load(t, tn, "echo", wat(t, "echo"))
	runtimes := func() int {
		e.rtMu.Lock()
		defer e.rtMu.Unlock()
		return len(e.runtimes)
	}
	if n := runtimes(); n != 2 {
		t.Errorf("%d runtimes after a memory cap change, want 2", n)
	}
	long := "more than ten bytes"
	if got := call(t, old, long); got != long {
		t.Errorf("old plugin keeps its limits: %q", got)
	}
	if _, _, err := cur.Call(context.Background(), seedCommand, []byte(long), nil); !errors.Is(err, ErrInputTooLarge) {
		t.Errorf("new plugin: %v, want ErrInputTooLarge", err)
	}
	old.Close(context.Background())
	if n := runtimes(); n != 1 {
		t.Errorf("%d runtimes after closing the old plugin, want 1", n)
	}
}

func TestExpiredCallerDeadline(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{}), "echo", wat(t, "echo"))
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, _, err := p.Call(ctx, seedCommand, []byte("late"), nil)
	if !errors.Is(err, ErrCPUTime) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want ErrCPUTime", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "the caller's deadline passed before the guest was entered") || strings.Contains(msg, "instruction budget") {
		t.Errorf("error %q, want the caller's deadline and no budget", msg)
	}
	if s := p.Stats(); s.Dropped != 0 || s.Live != 1 {
		t.Errorf("stats %+v: the guest was never entered, its instance must be kept", s)
	}
}
