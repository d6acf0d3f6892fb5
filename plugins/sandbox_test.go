package plugins

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/tetratelabs/wazero"
)

// hammer calls p from two goroutines until stop is called, and returns how
// many calls were made and how many failed or answered wrongly.
func hammer(t *testing.T, p *Plugin) (stop func() (calls, fails int64)) {
	t.Helper()
	var calls, fails atomic.Int64
	var firstErr atomic.Value
	done := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(`{"n":1}`)
			var dst []byte
			for {
				select {
				case <-done:
					return
				default:
				}
				reply, _, err := p.Call(context.Background(), seedCommand, body, dst[:0])
				calls.Add(1)
				if err != nil || !bytes.Equal(reply, body) {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, errors.Join(err, errors.New(string(reply))))
				}
				dst = reply
			}
		}()
	}
	// Return once the hammer is running, and stop it only after it made more
	// calls, so that it overlaps the hostile call.
	waitCalls := func(n int64) {
		for deadline := time.Now().Add(5 * time.Second); calls.Load() < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
	}
	waitCalls(5)
	return func() (int64, int64) {
		waitCalls(calls.Load() + 5)
		close(done)
		wg.Wait()
		if e := firstErr.Load(); e != nil {
			t.Logf("first hammer failure: %v", e)
		}
		return calls.Load(), fails.Load()
	}
}

// TestHostileGuests runs each hostile guest on tenant "evil" while tenant
// "good" is hammered, and checks the typed error, that the failure did not
// leak into the next call of the evil tenant, and that the good tenant never
// noticed.
func TestHostileGuests(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	good := newTestTenant(t, e, SandboxOptions{ID: "good"})
	goodEcho := load(t, good, "echo", wat(t, "echo"))

	short := shortLimits()
	tests := []struct {
		name       string
		wasm       func(testing.TB) []byte
		body       string
		limits     *limits.Limits
		grants     limits.Grants
		want       Kind
		wantErr    string // substring of the error
		wantStderr string // substring of CallError.Stderr
		maxTime    time.Duration
	}{
		{name: "infinite loop", wasm: watGuest("infinite_loop"), limits: &short, want: KindCPUTime, maxTime: 3 * time.Second},
		{name: "memory bomb wat", wasm: watGuest("memory_bomb"), want: KindMemory},
		{name: "huge output wat", wasm: watGuest("huge_output"), want: KindOutputSize, wantErr: "reply of 5242880 bytes > max_output_bytes[1048576]"},
		{name: "trap", wasm: watGuest("trap"), want: KindTrap, wantErr: "wasm error: unreachable"},
		{name: "out of bounds reply", wasm: watGuest("bad_pointer"), want: KindBadReply, wantErr: "reply [0x7fff0000, +16) is outside guest memory"},
		{name: "log flood wat", wasm: watGuest("log_flood"), want: KindLogBytes, wantErr: "> max_log_bytes[16384]"},
		{name: "go panic", wasm: goGuest("kitchen"), body: "!panic", want: KindTrap, wantStderr: "panic: kitchen: boom"},
		{name: "go memory bomb", wasm: goGuest("kitchen"), body: "!oom", want: KindMemory, wantStderr: "out of memory"},
		{name: "go huge output", wasm: goGuest("kitchen"), body: "!huge", want: KindOutputSize},
		{name: "go open file", wasm: goGuest("kitchen"), body: "!open", want: KindGuestError, wantErr: "open /etc/passwd"},
		{name: "go log flood", wasm: goGuest("kitchen"), body: "!log", want: KindLogBytes},
		{name: "go sleep with real clock", wasm: goGuest("kitchen"), body: "!sleep", limits: &short, grants: limits.Grants{Nanotime: true}, want: KindCPUTime, maxTime: 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := testLimits()
			if tc.limits != nil {
				lim = *tc.limits
			}
			evil := newTestTenant(t, e, SandboxOptions{ID: "evil", Limits: lim, Grants: tc.grants})
			defer evil.Close(context.Background())
			p := load(t, evil, "hostile", tc.wasm(t))
			echo := load(t, evil, "echo", wat(t, "echo"))
			body := tc.body
			if body == "" {
				body = seedBody
			}

			stop := hammer(t, goodEcho)
			start := time.Now()
			reply, _, err := p.Call(context.Background(), seedCommand, []byte(body), nil)
			took := time.Since(start)
			calls, fails := stop()

			if err == nil {
				t.Fatalf("Call succeeded with %q, want a %s error", reply, tc.want)
			}
			var ce *CallError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v, want *CallError", err, err)
			}
			if ce.Kind != tc.want || !errors.Is(err, tc.want.sentinel()) {
				t.Fatalf("kind %s, want %s: %v\nstderr: %s", ce.Kind, tc.want, err, ce.Stderr)
			}
			if ce.Tenant != "evil" || ce.Plugin != "hostile" || ce.Command != seedCommand {
				t.Errorf("error names tenant[%s] plugin[%s] command[%s]", ce.Tenant, ce.Plugin, ce.Command)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if tc.wantStderr != "" && !strings.Contains(ce.Stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", ce.Stderr, tc.wantStderr)
			}
			if tc.maxTime > 0 && took > tc.maxTime {
				t.Errorf("stopped after %s, want within %s", took, tc.maxTime)
			}
			if fails != 0 || calls == 0 {
				t.Errorf("good tenant: %d of %d calls failed during the hostile call", fails, calls)
			}

			// The next call on the evil tenant works: another plugin...
			if r, _, err := echo.Call(context.Background(), seedCommand, []byte("after"), nil); err != nil || string(r) != "after" {
				t.Errorf("next call on the tenant: %q, %v", r, err)
			}
			// ...and, for the Go guest that only misbehaves on request, the same plugin.
			if tc.body != "" {
				if r, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil || string(r) != seedReply {
					t.Errorf("next call on the same plugin: %q, %v", r, err)
				}
			}
			if tc.want != KindGuestError && p.Stats().Dropped != 1 {
				t.Errorf("stats %+v, want the failed instance dropped", p.Stats())
			}
		})
	}
}

func watGuest(name string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return wat(t, name) }
}

func goGuest(name string) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return goWasm(t, name) }
}

// TestLoadErrors checks that broken modules are refused with a *LoadError that
// says what was expected, and that the tenant keeps working.
func TestLoadErrors(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := shortLimits()
	lim.InitTimeout = 300 * time.Millisecond
	tn := newTestTenant(t, e, SandboxOptions{ID: "acme", Limits: lim})
	tests := []struct {
		name    string
		wasm    []byte
		want    Kind
		wantErr string
	}{
		{"missing export", wat(t, "missing_export"), KindInvalidModule, "guest doesn't export func[imhook_handle] (want (i32,i32)->(i64))"},
		{"wrong signature", wat(t, "wrong_signature"), KindInvalidModule, "export func[imhook_handle] has signature (i32)->(i32), want (i32,i32)->(i64)"},
		{"wrong abi version", wat(t, "wrong_abi"), KindInvalidModule, "imhook_abi_version returned 2, this host supports abi version 1"},
		{"optional export of the wrong type", wat(t, "bad_input_formats"), KindInvalidModule, "export func[imhook_input_formats] has signature ()->(i64), want ()->(i32)"},
		{"unknown import", wat(t, "bad_import"), KindInvalidModule, "guest imports func[env.abort]; only imhook.* and wasi_snapshot_preview1.* are provided"},
		{"unknown command", wat(t, "unknown_command"), KindInvalidModule, "imhook_commands lists command[helloWorld], which is not a callback command this host serves"},
		{"optional export traps", wat(t, "input_formats_trap"), KindTrap, "imhook_input_formats: "},
		{"infinite loop in _initialize", wat(t, "init_loop"), KindCPUTime, "instantiate"},
		{"not wasm", []byte("hello"), KindInvalidModule, "compile: invalid magic number"},
		{"empty", nil, KindInvalidModule, "compile:"},
		{"a text file", []byte("# my plugin\n"), KindInvalidModule, "this is not a WebAssembly module (compile: invalid magic number): build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared"},
		{"built without -buildmode=c-shared", wat(t, "command"), KindTrap, "the module is a WASI command (it exports _start, not _initialize), so its exports trap: build it with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared: imhook_abi_version: wasm error: unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			p, err := tn.Load(context.Background(), "bad", tc.wasm)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("Load succeeded, want an error")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("Load took %s", took)
			}
			var le *LoadError
			if !errors.As(err, &le) || !errors.Is(err, ErrInvalidModule) {
				t.Fatalf("error %T %v, want *LoadError matching ErrInvalidModule", err, err)
			}
			if le.Kind != tc.want || !errors.Is(err, tc.want.sentinel()) {
				t.Errorf("kind %s, want %s", le.Kind, tc.want)
			}
			if le.Tenant != "acme" || le.Plugin != "bad" || le.Hash != hashOf(tc.wasm) {
				t.Errorf("error names tenant[%s] plugin[%s] hash[%s]", le.Tenant, le.Plugin, le.Hash)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
	p := load(t, tn, "echo", wat(t, "echo"))
	if r, _, err := p.Call(context.Background(), seedCommand, []byte("ok"), nil); err != nil || string(r) != "ok" {
		t.Errorf("tenant after the refused loads: %q, %v", r, err)
	}
}

// TestCallResults covers the non-hostile outcomes of a call.
func TestCallResults(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxInputBytes = 300_000
	tn := newTestTenant(t, e, SandboxOptions{Limits: lim})
	p := load(t, tn, "echo", wat(t, "echo"))
	big := bytes.Repeat([]byte("x"), 200_000) // bigger than the 64 KiB first buffer
	tests := []struct {
		name      string
		body      []byte
		dst       []byte
		wantReply string
		want      Kind
		wantErr   string
	}{
		{name: "echo", body: []byte("hi"), wantReply: "hi"},
		{name: "appends to dst", body: []byte("hi"), dst: []byte("> "), wantReply: "> hi"},
		{name: "neutral", body: nil, wantReply: ""},
		{name: "grows the input buffer", body: big, wantReply: string(big)},
		{name: "guest error", body: []byte("!not today"), want: KindGuestError, wantErr: "guest_error: guest returned an error: not today"},
		{name: "input too large", body: make([]byte, 300_001), want: KindInputSize, wantErr: "input of 300033 bytes > max_input_bytes[300000]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reply, info, err := p.Call(context.Background(), seedCommand, tc.body, tc.dst)
			if tc.want != 0 {
				if KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %s containing %q", err, tc.want, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(reply) != tc.wantReply {
				t.Errorf("reply %.40q (%d bytes), want %.40q", reply, len(reply), tc.wantReply)
			}
			if tc.wantReply == "" && reply != nil {
				t.Errorf("neutral reply is %q, want nil", reply)
			}
			if info.Duration <= 0 || info.MemoryPages < 2 {
				t.Errorf("info %+v", info)
			}
		})
	}
	if s := p.Stats(); s.Dropped != 0 || s.Created != 1 {
		t.Errorf("stats %+v: guest errors and refused inputs must not cost an instance", s)
	}
}

func TestHandles(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{}), "echo", wat(t, "echo"))
	want := []string{"callbackAfterGroupMsgReadCommand", "callbackBeforeSendSingleMsgCommand"}
	if got := p.Commands(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Commands() = %q, want %q", got, want)
	}
	for cmd, want := range map[string]bool{
		"callbackAfterGroupMsgReadCommand":   true,
		"callbackBeforeSendSingleMsgCommand": true,
		"callbackBeforeSendGroupMsgCommand":  false,
		"callbackGroupMsgReadCommand":        true, // legacy name of the first
		"callbackNope":                       false,
		"":                                   false,
	} {
		if got := p.Handles(cmd); got != want {
			t.Errorf("Handles(%q) = %v, want %v", cmd, got, want)
		}
	}
}

func TestInspect(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	b := wat(t, "echo")
	info, err := e.Inspect(context.Background(), b, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	if info.Hash != hashOf(b) || info.Size != len(b) || info.ABIVersion != 1 || len(info.Commands) != 2 || info.CompileTime <= 0 {
		t.Errorf("info %+v", info)
	}
	_, err = e.Inspect(context.Background(), wat(t, "wrong_abi"), testLimits())
	if !errors.Is(err, ErrInvalidModule) || !strings.HasPrefix(err.Error(), "invalid plugin module sha256[") {
		t.Errorf("Inspect(wrong_abi) error %v", err)
	}
}

// TestTypeIndexOutOfRange: a 30-byte module whose function is declared with
// type index 5 of 1 type made wazero's validator panic and took the whole
// process down at upload. It is refused as invalid.
func TestTypeIndexOutOfRange(t *testing.T) {
	wasm, err := hex.DecodeString("0061736d01000000" + "0104016000" + "00" + "0303020005" + "0a0902040010010b02000b")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEngine(t, EngineOptions{})
	_, err = e.Inspect(context.Background(), wasm, testLimits())
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "type index 5, the module has 1 types") {
		t.Fatalf("Inspect = %v, want the type index refused", err)
	}
	// Past the check, wazero's panic is a refusal too.
	_, err = e.compile(context.Background(), wazero.NewRuntime(context.Background()), wasm)
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "validator failed") {
		t.Fatalf("compile = %v, want the panic turned into a refusal", err)
	}
}
