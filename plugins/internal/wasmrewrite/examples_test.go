package wasmrewrite

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestMeterExamples builds each plugin under examples/, merges its data
// segments and meters it, and drives the original and the rewritten module
// through the plugin ABI: the same commands, the same reply to each, and the
// same instruction count on two instances.
func TestMeterExamples(t *testing.T) {
	t.Parallel()
	skipHeavy(t)
	mains, _ := filepath.Glob(filepath.Join("..", "..", "..", "examples", "*", "main.go"))
	if len(mains) == 0 {
		t.Skip("no examples")
	}
	r := newABIRuntime(t)
	for _, main := range mains {
		name := filepath.Base(filepath.Dir(main))
		t.Run(name, func(t *testing.T) {
			orig, err := wasmbuild.Go(t.Context(), "./"+filepath.Dir(main), wasmbuild.Options{TrimPath: true})
			if err != nil {
				// The example's own tests report its build errors.
				t.Skipf("example does not build: %v", err)
			}
			merged, err := MergeDataSegments(orig)
			if err != nil {
				t.Fatal(err)
			}
			rewritten := mustMeter(t, merged, MeterOptions{})

			want := startABIGuest(t, r, orig, false)
			a := startABIGuest(t, r, rewritten, true)
			b := startABIGuest(t, r, rewritten, true)
			if a.used != b.used {
				t.Errorf("_initialize used %d then %d", a.used, b.used)
			}
			commands := want.commands()
			if got := a.commands(); !slices.Equal(got, commands) {
				t.Fatalf("commands %q metered, %q original", got, commands)
			}
			for _, command := range commands {
				body := `{"callbackCommand":"` + command + `","sendID":"user_a","recvID":"user_b",` +
					`"groupID":"g1","content":"{\"content\":\"hello\"}","contentType":101,"sessionType":1,"seq":7}`
				reply := want.handle(command, body)
				for _, g := range []*abiGuest{a, b} {
					if got := g.handle(command, body); got != reply {
						t.Errorf("%s: reply %q metered, %q original", command, got, reply)
					}
				}
				if a.used != b.used || a.used == 0 {
					t.Errorf("%s used %d then %d instructions", command, a.used, b.used)
				}
				t.Logf("%s: %d instructions, reply %.60q", command, a.used, reply)
			}
		})
	}
}

// newABIRuntime returns an interpreter runtime with WASI and a stub imhook
// host module: log discards, config finds nothing. The interpreter compiles
// a 2 MB Go guest in a fraction of the compiler's time, and these tests make
// only a few calls.
func newABIRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCompilationCache(compiled))
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	instantiateMeter(t, r)
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	b := r.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}),
		[]api.ValueType{i32, i32, i32}, nil).Export(abi.FuncLog).
		NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = api.EncodeI32(-1)
	}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).Export(abi.FuncConfig)
	// The fallible functions answer unavailable (kv_*) or nothing (the
	// message and kept output): an example that uses state goes on without.
	status := func(s abi.Status) api.GoModuleFunc {
		return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = api.EncodeI32(int32(s)) }
	}
	for _, f := range []struct {
		name   string
		params []api.ValueType
		s      abi.Status
	}{
		{abi.FuncLastError, []api.ValueType{i32, i32}, 0},
		{abi.FuncTakeResult, []api.ValueType{i32, i32}, abi.StatusNotFound},
		{abi.FuncKVGet, []api.ValueType{i32, i32, i32, i32, i32}, abi.StatusUnavailable},
		{abi.FuncKVSet, []api.ValueType{i32, i32, i32, i32, i64}, abi.StatusUnavailable},
		{abi.FuncKVCompareAndSet, []api.ValueType{i32, i32, i32, i32, i64, i64, i32}, abi.StatusUnavailable},
		{abi.FuncKVDelete, []api.ValueType{i32, i32}, abi.StatusUnavailable},
		{abi.FuncKVAdd, []api.ValueType{i32, i32, i64, i64, i32}, abi.StatusUnavailable},
		{abi.FuncKVList, []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, abi.StatusUnavailable},
		{abi.FuncHTTP, []api.ValueType{i32, i32, i32, i32}, abi.StatusUnavailable},
		{abi.FuncSecret, []api.ValueType{i32, i32, i32, i32}, abi.StatusUnavailable},
	} {
		b = b.NewFunctionBuilder().WithGoModuleFunction(status(f.s), f.params, []api.ValueType{i32}).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// abiGuest is an instance driven through the raw ABI.
type abiGuest struct {
	t    testing.TB
	m    api.Module
	fuel *Fuel
	used uint64 // instructions of the last call, when metered
}

const abiBudget = 1 << 40

func startABIGuest(t testing.TB, r wazero.Runtime, wasm []byte, metered bool) *abiGuest {
	t.Helper()
	g := &abiGuest{t: t, m: instantiate(t, r, wasm)}
	if metered {
		f, err := NewFuel(g.m)
		if err != nil {
			t.Fatal(err)
		}
		g.fuel = &f
	}
	g.call(abi.FuncInitialize)
	if v := g.call(abi.FuncABIVersion); uint32(v) != abi.Version {
		t.Fatalf("ABI version %d", v)
	}
	return g
}

func (g *abiGuest) call(name string, args ...uint64) uint64 {
	g.t.Helper()
	if g.fuel != nil {
		g.fuel.Set(abiBudget)
	}
	res := call(g.t, g.m, name, args...)
	if g.fuel != nil {
		g.used = g.fuel.Used(abiBudget)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

func (g *abiGuest) read(p abi.Result) string {
	g.t.Helper()
	b, ok := g.m.Memory().Read(p.Ptr, p.Len)
	if !ok {
		g.t.Fatalf("result %+v outside memory", p)
	}
	return string(b)
}

func (g *abiGuest) commands() []string {
	g.t.Helper()
	return strings.Split(g.read(abi.Unpack(g.call(abi.FuncCommands))), string(rune(abi.CommandSeparator)))
}

// handle writes command and body into the guest's buffer, calls the handler
// and returns the reply, prefixed with "error: " for an error result.
func (g *abiGuest) handle(command, body string) string {
	g.t.Helper()
	in := command + body
	buf := abi.Unpack(g.call(abi.FuncBuffer, uint64(len(in))))
	if buf.Len < uint32(len(in)) || !g.m.Memory().WriteString(buf.Ptr, in) {
		g.t.Fatalf("buffer %+v too small for %d bytes", buf, len(in))
	}
	res := abi.Unpack(g.call(abi.FuncHandle, uint64(len(command)), uint64(len(body))))
	if res.Empty() {
		return ""
	}
	if res.Error {
		return "error: " + g.read(res)
	}
	return g.read(res)
}
