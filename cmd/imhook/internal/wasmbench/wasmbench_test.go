package wasmbench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/wasmbuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// guest returns testdata/guest built for wasip1 once per test binary.
func guest(tb testing.TB) []byte {
	tb.Helper()
	return wasmbuild.GoOnce(tb, "./testdata/guest", wasmbuild.Options{TrimPath: true})
}

// singleMsgExample returns the catalog's callbackBeforeSendSingleMsgCommand
// example, compacted as OpenIM's encoder writes it.
func singleMsgExample(tb testing.TB) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "sdk", "openim", "internal", "gen", "catalog.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var entries []struct {
		Command string          `json:"command"`
		Example json.RawMessage `json:"example"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.Command == "callbackBeforeSendSingleMsgCommand" {
			var b bytes.Buffer
			if err := json.Compact(&b, e.Example); err != nil {
				tb.Fatal(err)
			}
			return b.Bytes()
		}
	}
	tb.Fatal("example not found")
	return nil
}

// instance is one instantiated guest with the example in its input buffer.
type instance struct {
	mod   api.Module
	funcs map[string]api.Function
	close func()
}

func newInstance(tb testing.TB) *instance {
	tb.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	mod, err := r.InstantiateWithConfig(ctx, guest(tb), wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		r.Close(ctx)
		tb.Fatal(err)
	}
	in := &instance{mod: mod, funcs: map[string]api.Function{}, close: func() { r.Close(ctx) }}
	for _, name := range []string{"bench_buffer", "bench_wire_buffer", "bench_openim", "bench_openim_decode", "bench_openim_wire_decode", "bench_openim_encode", "bench_std"} {
		f := mod.ExportedFunction(name)
		if f == nil {
			in.close()
			tb.Fatalf("guest does not export %s", name)
		}
		in.funcs[name] = f
	}
	ex := singleMsgExample(tb)
	var req openim.BeforeSendSingleMsgReq
	if err := req.DecodeJSON(ex); err != nil {
		in.close()
		tb.Fatal(err)
	}
	for _, b := range []struct {
		fn   string
		data []byte
	}{{"bench_buffer", ex}, {"bench_wire_buffer", req.AppendWire(nil)}} {
		res, err := in.funcs[b.fn].Call(ctx, uint64(len(b.data)))
		if err != nil {
			in.close()
			tb.Fatal(err)
		}
		if !mod.Memory().Write(uint32(res[0]), b.data) {
			in.close()
			tb.Fatal("input buffer out of range")
		}
	}
	return in
}

// run calls fn(n) and returns the reply it produced.
func (in *instance) run(tb testing.TB, fn string, n uint32) []byte {
	res, err := in.funcs[fn].Call(context.Background(), uint64(n))
	if err != nil {
		tb.Fatal(err)
	}
	if res[0] == 0 {
		tb.Fatalf("%s failed to decode the example", fn)
	}
	out, ok := in.mod.Memory().Read(uint32(res[0]>>32), uint32(res[0]))
	if !ok {
		tb.Fatal("reply out of range")
	}
	return out
}

// TestGuest checks that every codec in the guest decode the example and write
// the same reply, so the benchmark measures real work.
func TestGuest(t *testing.T) {
	if raceEnabled {
		t.Skip("single-threaded; the race detector only makes compiling the guest slow")
	}
	in := newInstance(t)
	defer in.close()
	want := `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`
	for _, fn := range []string{"bench_openim", "bench_std"} {
		if got := string(in.run(t, fn, 3)); got != want {
			t.Errorf("%s reply = %s, want %s", fn, got, want)
		}
	}
	// The decode-only functions return the decoded request re-encoded, which
	// reproduces the example byte for byte.
	ex := singleMsgExample(t)
	for _, fn := range []string{"bench_openim_decode", "bench_openim_wire_decode"} {
		if got := in.run(t, fn, 3); !bytes.Equal(got, ex) {
			t.Errorf("%s decoded = %s, want %s", fn, got, ex)
		}
	}
}

// BenchmarkGuestDecodeEncode measures one decode of the single-chat example plus
// one encode of its reply inside the guest. "call" includes the wazero call
// (one per op); "loop" runs 100 iterations per call and reports ns per iteration.
func BenchmarkGuestDecodeEncode(b *testing.B) {
	in := newInstance(b)
	defer in.close()
	ctx := context.Background()
	for _, c := range []struct{ name, fn string }{
		{"openim", "bench_openim"},
		{"openim-decode-only", "bench_openim_decode"},
		{"openim-wire-decode-only", "bench_openim_wire_decode"},
		{"openim-encode-only", "bench_openim_encode"},
		{"encoding-json", "bench_std"},
	} {
		f := in.funcs[c.fn]
		b.Run(c.name+"/call", func(b *testing.B) {
			stack := make([]uint64, 1)
			start, n := processCPU(), 0
			defer func() { reportCPU(b, start, n) }()
			for b.Loop() {
				n++
				stack[0] = 1
				if err := f.CallWithStack(ctx, stack); err != nil || stack[0] == 0 {
					b.Fatal("guest call failed", err)
				}
			}
		})
		b.Run(c.name+"/loop", func(b *testing.B) {
			const perCall = 100
			stack := make([]uint64, 1)
			calls := 0
			start := processCPU()
			for b.Loop() {
				stack[0] = perCall
				if err := f.CallWithStack(ctx, stack); err != nil || stack[0] == 0 {
					b.Fatal("guest call failed", err)
				}
				calls++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(calls*perCall), "ns/iter")
			reportCPU(b, start, calls*perCall)
		})
	}
}
