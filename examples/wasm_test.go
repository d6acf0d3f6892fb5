package examples_test

// These tests build the example plugins with the real toolchain
// (GOOS=wasip1, -buildmode=c-shared) and drive them with wazero directly,
// speaking the ABI of sdk/abi by hand. They catch mistakes in the SDK's
// exports, imports and buffer handling that native tests cannot see. The
// host's own runtime (package plugins) has its tests; this is the guest side.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// examples are the plugins built for these tests.
var examples = []string{"moderation", "readsync", "policy", "trivial"}

// testPlugins are built like examples but are not examples (testdata/).
var testPlugins = []string{"panicky"}

// built returns an example's module, built with the documented flags once
// per test binary (a few seconds with a warm build cache).
func built(t testing.TB, name string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds wasm with the Go toolchain; skipped in -short mode")
	}
	pkg := "./" + name
	if slices.Contains(testPlugins, name) {
		pkg = "./testdata/" + name
	}
	return wasmbuild.GoOnce(t, pkg, wasmbuild.Release())
}

// signature renders a function definition as "(i32,i32)->i64".
func signature(d api.FunctionDefinition) string {
	types := func(ts []api.ValueType) string {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = api.ValueTypeName(t)
		}
		return strings.Join(names, ",")
	}
	return "(" + types(d.ParamTypes()) + ")->" + types(d.ResultTypes())
}

func TestExportsAndImports(t *testing.T) {
	ctx := context.Background()
	// The interpreter compiles a 2 MB module in a fraction of the time the
	// optimizing compiler needs; signatures are the same.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	wantExports := map[string]string{
		abi.FuncABIVersion: "()->i32",
		abi.FuncCommands:   "()->i64",
		abi.FuncBuffer:     "(i32)->i64",
		abi.FuncHandle:     "(i32,i32)->i64",
		abi.FuncInitialize: "()->",
	}
	wantHostImports := map[string]string{
		abi.FuncLog:    "(i32,i32,i32)->",
		abi.FuncConfig: "(i32,i32,i32,i32)->i32",
	}
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			bin := built(t, ex)
			cm, err := r.CompileModule(ctx, bin)
			if err != nil {
				t.Fatal(err)
			}
			exports := cm.ExportedFunctions()
			for name, want := range wantExports {
				d, ok := exports[name]
				if !ok {
					t.Errorf("missing export func[%s] (want %s)", name, want)
					continue
				}
				if got := signature(d); got != want {
					t.Errorf("export func[%s] is %s, want %s", name, got, want)
				}
			}
			if _, ok := cm.ExportedMemories()[abi.Memory]; !ok {
				t.Errorf("missing export memory[%s]", abi.Memory)
			}
			for _, d := range cm.ImportedFunctions() {
				mod, name, _ := d.Import()
				switch mod {
				case wasi_snapshot_preview1.ModuleName:
				case abi.HostModule:
					if want, ok := wantHostImports[name]; !ok {
						t.Errorf("imports unknown host func[%s.%s]", mod, name)
					} else if got := signature(d); got != want {
						t.Errorf("import func[%s.%s] is %s, want %s", mod, name, got, want)
					}
				default:
					t.Errorf("imports func[%s.%s] from a module the host does not provide", mod, name)
				}
			}
		})
	}
}

// guest is one instantiated plugin driven through the raw ABI.
type guest struct {
	t      testing.TB
	ctx    context.Context // carries the guest to the host functions
	mod    api.Module
	handle api.Function
	buffer api.Function
	stack  []uint64
	config map[string]string
	logs   []string
}

type guestKey struct{}

// newRuntime returns a runtime with WASI and a minimal imhook host module
// whose functions serve the guest found in the call's context.
func newRuntime(t testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, cfg)
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	i32 := api.ValueTypeI32
	_, err := r.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		g := ctx.Value(guestKey{}).(*guest)
		line, ok := m.Memory().Read(uint32(stack[1]), uint32(stack[2]))
		if !ok {
			panic("log line outside guest memory")
		}
		g.logs = append(g.logs, abi.LogLevel(int32(stack[0])).String()+" "+string(line))
	}), []api.ValueType{i32, i32, i32}, nil).Export(abi.FuncLog).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
		g := ctx.Value(guestKey{}).(*guest)
		key, ok := m.Memory().Read(uint32(stack[0]), uint32(stack[1]))
		if !ok {
			panic("config key outside guest memory")
		}
		v, set := g.config[string(key)]
		if !set {
			stack[0] = api.EncodeI32(-1)
			return
		}
		if len(v) <= int(uint32(stack[3])) && !m.Memory().WriteString(uint32(stack[2]), v) {
			panic("config buffer outside guest memory")
		}
		stack[0] = api.EncodeI32(int32(len(v)))
	}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export(abi.FuncConfig).
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compile compiles an example's .wasm in r.
func compile(t testing.TB, r wazero.Runtime, name string) wazero.CompiledModule {
	t.Helper()
	cm, err := r.CompileModule(context.Background(), built(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// instantiate starts an instance of cm, running _initialize as the host does.
func instantiate(t testing.TB, r wazero.Runtime, cm wazero.CompiledModule, config map[string]string) *guest {
	t.Helper()
	g := &guest{t: t, config: config, stack: make([]uint64, 2)}
	g.ctx = context.WithValue(context.Background(), guestKey{}, g)
	mod, err := r.InstantiateModule(g.ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.FuncInitialize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(context.Background()) })
	g.mod = mod
	g.handle = mod.ExportedFunction(abi.FuncHandle)
	g.buffer = mod.ExportedFunction(abi.FuncBuffer)
	return g
}

// callU64 calls an exported function and returns its single result.
func (g *guest) callU64(name string, params ...uint64) uint64 {
	g.t.Helper()
	res, err := g.mod.ExportedFunction(name).Call(g.ctx, params...)
	if err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	return res[0]
}

// read returns the guest bytes a packed result points to.
func (g *guest) read(res abi.Result) string {
	g.t.Helper()
	b, ok := g.mod.Memory().Read(res.Ptr, res.Len)
	if !ok {
		g.t.Fatalf("result %+v points outside guest memory", res)
	}
	return string(b)
}

// callInput is call with the command and body already concatenated, so that
// benchmarks measure the ABI rather than the test's string building.
func (g *guest) callInput(in string, commandLen int) abi.Result {
	g.t.Helper()
	g.stack[0] = uint64(len(in))
	if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v", abi.FuncBuffer, err)
	}
	buf := abi.Unpack(g.stack[0])
	if !g.mod.Memory().WriteString(buf.Ptr, in) {
		g.t.Fatalf("buffer %+v outside guest memory", buf)
	}
	g.stack[0], g.stack[1] = uint64(commandLen), uint64(len(in)-commandLen)
	if err := g.handle.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v", abi.FuncHandle, err)
	}
	return abi.Unpack(g.stack[0])
}

// call writes command and body the way the host does (growing the buffer
// through imhook_buffer when needed) and calls imhook_handle.
func (g *guest) call(command, body string) abi.Result {
	g.t.Helper()
	n := uint64(len(command) + len(body))
	g.stack[0] = n
	if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v", abi.FuncBuffer, err)
	}
	buf := abi.Unpack(g.stack[0])
	if buf.Empty() || uint64(buf.Len) < n {
		g.t.Fatalf("%s(%d) = %+v, want a buffer of at least %d bytes", abi.FuncBuffer, n, buf, n)
	}
	if !g.mod.Memory().WriteString(buf.Ptr, command+body) {
		g.t.Fatalf("buffer %+v outside guest memory", buf)
	}
	g.stack[0], g.stack[1] = uint64(len(command)), uint64(len(body))
	if err := g.handle.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v", abi.FuncHandle, err)
	}
	return abi.Unpack(g.stack[0])
}

func TestModerationInWasm(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	cm := compile(t, r, "moderation")

	g := instantiate(t, r, cm, map[string]string{"banned_words": "spam"})
	if v := g.callU64(abi.FuncABIVersion); v != uint64(abi.Version) {
		t.Fatalf("abi version = %d, want %d", v, abi.Version)
	}
	want := "callbackBeforeSendSingleMsgCommand,callbackBeforeSendGroupMsgCommand,callbackBeforeMsgModifyCommand"
	if got := g.read(abi.Unpack(g.callU64(abi.FuncCommands))); got != want {
		t.Fatalf("commands = %s, want %s", got, want)
	}

	single := func(text string) string {
		req := &openim.BeforeSendSingleMsgReq{SendID: "user_a", RecvID: "user_b", ClientMsgID: "m1", ContentType: 101, Content: text}
		return string(req.AppendJSON(nil))
	}
	cmd := openim.BeforeSendSingleMsg.String()
	tests := []struct {
		name    string
		command string
		body    string
		want    string // reply, or error message when isErr
		isErr   bool
	}{
		{name: "clean message: no reply", command: cmd, body: single(`{"content":"hello"}`)},
		{name: "banned word: stop", command: cmd, body: single(`{"content":"buy spam"}`),
			want: `{"actionCode":0,"errCode":20001,"errMsg":"message blocked by moderation","errDlt":"","nextCode":1}`},
		{name: "large body grows the buffer", command: cmd, body: single(`{"content":"` + strings.Repeat("x", 10_000) + ` spam"}`),
			want: `{"actionCode":0,"errCode":20001,"errMsg":"message blocked by moderation","errDlt":"","nextCode":1}`},
		{name: "small body after a large one", command: cmd, body: single(`{"content":"fine"}`)},
		{name: "handler error", command: cmd, body: single(`not json`), isErr: true,
			want: "plugin: handler for callbackBeforeSendSingleMsgCommand failed: textmsg: invalid content at offset 0: found 'n', want '{'"},
		{name: "request decode error", command: cmd, body: `{"contentType":"x"}`, isErr: true,
			want: "plugin: handler for callbackBeforeSendSingleMsgCommand failed: "},
		{name: "unknown command", command: "callbackAfterGroupMsgReadCommand", body: `{}`, isErr: true,
			want: "plugin: no handler for command[callbackAfterGroupMsgReadCommand]; this plugin handles [" + want + "]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.t = t
			res := g.call(tc.command, tc.body)
			switch {
			case tc.isErr:
				if !res.Error || !strings.HasPrefix(g.read(res), tc.want) {
					t.Fatalf("result %+v %q, want error %q", res, g.read(res), tc.want)
				}
			case tc.want == "":
				if !res.Empty() {
					t.Fatalf("result %+v %q, want 0 (no reply)", res, g.read(res))
				}
			default:
				if res.Error || g.read(res) != tc.want {
					t.Fatalf("result %+v %q, want reply %s", res, g.read(res), tc.want)
				}
			}
		})
	}
	g.t = t
	if want := "info message blocked\x1fsend_id=user_a recv_id=user_b client_msg_id=m1"; len(g.logs) == 0 || g.logs[0] != want {
		t.Fatalf("logs = %q, want first %q", g.logs, want)
	}

	// Rewrite mode, in a second instance with its own configuration.
	g2 := instantiate(t, r, cm, map[string]string{"banned_words": "spam", "mode": "rewrite", "mask": "#"})
	body := string((&openim.BeforeMsgModifyReq{SendID: "user_a", ContentType: 101, Content: `{"content":"no spam"}`}).AppendJSON(nil))
	res := g2.call(openim.BeforeMsgModify.String(), body)
	if res.Error || !strings.Contains(g2.read(res), `"content":"{\"content\":\"no ####\"}"`) {
		t.Fatalf("modify reply = %+v %s", res, g2.read(res))
	}
}

func TestPanicRecoveryInWasm(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	g := instantiate(t, r, compile(t, r, "panicky"), nil)
	cmd := openim.BeforeAddFriend.String()
	tests := []struct {
		msg, want string
		isErr     bool
	}{
		{msg: "panic", isErr: true, want: "plugin: handler for callbackBeforeAddFriendCommand panicked: boom"},
		{msg: "nil map", isErr: true, want: "plugin: handler for callbackBeforeAddFriendCommand panicked: assignment to entry in nil map"},
		{msg: "index", isErr: true, want: "plugin: handler for callbackBeforeAddFriendCommand panicked: runtime error: slice bounds out of range [:19] with length 3"},
		{msg: "error", isErr: true, want: "plugin: handler for callbackBeforeAddFriendCommand failed: backend down"},
		{msg: "stop", want: `{"actionCode":0,"errCode":7,"errMsg":"no","errDlt":"","nextCode":1}`},
		{msg: "hi"}, // the instance still works after the panics
	}
	for _, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			g.t = t
			g.logs = nil
			body := string((&openim.BeforeAddFriendReq{FromUserID: "a", ToUserID: "bob", ReqMsg: tc.msg}).AppendJSON(nil))
			res := g.call(cmd, body)
			switch {
			case res.Empty():
				if tc.want != "" {
					t.Fatalf("no reply, want %q", tc.want)
				}
			case res.Error != tc.isErr || g.read(res) != tc.want:
				t.Fatalf("result %+v %q, want %q (error %v)", res, g.read(res), tc.want, tc.isErr)
			}
			if strings.Contains(tc.want, "panicked") &&
				(len(g.logs) != 1 || !strings.HasPrefix(g.logs[0], "error handler panicked\x1fcommand=callbackBeforeAddFriendCommand stack=")) {
				t.Fatalf("logs = %q, want the panic's stack logged", g.logs)
			}
		})
	}
}

func TestHandleRejectsInputBeyondBuffer(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	g := instantiate(t, r, compile(t, r, "trivial"), nil)
	if buf := abi.Unpack(g.callU64(abi.FuncBuffer, 0)); buf.Empty() || buf.Error || buf.Len == 0 {
		t.Fatalf("imhook_buffer(0) on a fresh instance = %+v, want a usable buffer", buf)
	}
	buf := abi.Unpack(g.callU64(abi.FuncBuffer, 16))
	res := abi.Unpack(g.callU64(abi.FuncHandle, 10, uint64(buf.Len)))
	want := "plugin: input of " + strconv.Itoa(int(buf.Len)+10) + " bytes does not fit the buffer of " + strconv.Itoa(int(buf.Len)) + " bytes; call imhook_buffer with the input size first"
	if !res.Error || g.read(res) != want {
		t.Fatalf("result %+v %q, want error %q", res, g.read(res), want)
	}
	if got := g.callU64(abi.FuncBuffer, 2<<30); got != 0 {
		t.Fatalf("imhook_buffer(2 GiB) = %#x, want 0", got)
	}
}

// BenchmarkSeedCallback measures one callbackAfterGroupMsgReadCommand call
// (the seed callback) into a warm readsync instance, host side included:
// copying the input in, the guest call, and the host functions it uses. The
// target is 10 us or less. Run with:
//
//	go test ./examples -run XXX -bench SeedCallback
func BenchmarkSeedCallback(b *testing.B) {
	r := newRuntime(b, wazero.NewRuntimeConfigCompiler())
	body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}` + "\n"
	cases := []struct {
		name   string
		plugin string
		config map[string]string
	}{
		{"readsync", "readsync", nil},
		{"readsync/log_level=off", "readsync", map[string]string{"log_level": "off"}},
		{"trivial", "trivial", nil},
	}
	for _, c := range cases {
		cm := compile(b, r, c.plugin)
		b.Run(c.name, func(b *testing.B) {
			g := instantiate(b, r, cm, c.config)
			cmd := openim.AfterGroupMsgRead.String()
			in := cmd + body
			g.call(cmd, body)
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if res := g.callInput(in, len(cmd)); !res.Empty() {
					b.Fatalf("result %+v, want no reply", res)
				}
				g.logs = g.logs[:0]
			}
			// CPU time of the process per call: on a shared machine it moves
			// far less than wall time when other processes compete for cores.
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// optimized runs wasm-opt with the Makefile's flags on an example and
// returns the optimised module.
func optimized(b *testing.B, name string) []byte {
	b.Helper()
	bin, err := exec.LookPath("wasm-opt")
	if err != nil {
		b.Skip("wasm-opt not installed")
	}
	dir := b.TempDir()
	src, dst := filepath.Join(dir, name+".wasm"), filepath.Join(dir, name+".opt.wasm")
	if err := os.WriteFile(src, built(b, name), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, "-O2", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
		"--enable-bulk-memory", "--enable-mutable-globals", src, "-o", dst).CombinedOutput()
	if err != nil {
		b.Fatalf("wasm-opt %s: %v\n%s", name, err, out)
	}
	opt, err := os.ReadFile(dst)
	if err != nil {
		b.Fatal(err)
	}
	return opt
}

// BenchmarkWasmOpt compares readsync as Go builds it with the same module
// after `make examples` runs wasm-opt on it: size, instantiation (with
// _initialize) and one warm seed callback. Run with:
//
//	go test ./examples -run XXX -bench WasmOpt
func BenchmarkWasmOpt(b *testing.B) {
	ctx := context.Background()
	r := newRuntime(b, wazero.NewRuntimeConfigCompiler())
	body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}` + "\n"
	cmd := openim.AfterGroupMsgRead.String()
	for _, v := range []struct {
		name string
		bin  []byte
	}{{"go", built(b, "readsync")}, {"wasm-opt", optimized(b, "readsync")}} {
		cm, err := r.CompileModule(ctx, v.bin)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(v.name+"/instantiate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				g := &guest{t: b}
				g.ctx = context.WithValue(ctx, guestKey{}, g)
				mod, err := r.InstantiateModule(g.ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions(abi.FuncInitialize))
				if err != nil {
					b.Fatal(err)
				}
				mod.Close(ctx)
			}
			b.ReportMetric(float64(len(v.bin)), "wasm-bytes")
		})
		b.Run(v.name+"/call", func(b *testing.B) {
			g := instantiate(b, r, cm, map[string]string{"log_level": "off"})
			in := cmd + body
			g.callInput(in, len(cmd))
			for b.Loop() {
				g.callInput(in, len(cmd))
			}
		})
	}
}
