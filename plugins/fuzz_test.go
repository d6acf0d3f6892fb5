package plugins

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// FuzzGuestMemoryRead makes a guest return arbitrary packed results and checks
// that the host answers a reply that lies inside guest memory, nothing, or a
// typed error, and never panics.
func FuzzGuestMemoryRead(f *testing.F) {
	e := newTestEngine(f, EngineOptions{})
	lim := testLimits()
	lim.MaxOutputBytes = 32 << 10
	p := load(f, newTestTenant(f, e, SandboxOptions{Limits: lim}), "raw", wat(f, "raw_result"))
	for _, v := range []uint64{
		0,
		abi.PackPointer(0, 32),     // the command list
		abi.PackPointer(65535, 1),  // last byte of memory
		abi.PackPointer(65535, 2),  // one past the end
		abi.PackPointer(0, 40<<10), // over the output limit
		abi.PackError(0, 8),        // an error message
		abi.PackPointer(abi.MaxPointer, 0xffffffff),
		1 << 63, // error bit, empty message
	} {
		f.Add(binary.LittleEndian.AppendUint64(nil, v))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply, _, err := p.Call(context.Background(), seedCommand, body, nil)
		if len(body) < 8 {
			if reply != nil || err != nil {
				t.Fatalf("short body: %q, %v", reply, err)
			}
			return
		}
		res := abi.Unpack(binary.LittleEndian.Uint64(body))
		switch k := KindOf(err); {
		case err == nil && res.Len == 0:
			if reply != nil {
				t.Fatalf("empty result gave reply %q", reply)
			}
		case err == nil:
			if res.Error || uint64(res.Ptr)+uint64(res.Len) > 65536 || len(reply) != int(res.Len) {
				t.Fatalf("result %+v gave reply of %d bytes", res, len(reply))
			}
			if res.Ptr == 0 && res.Len >= 32 && !bytes.HasPrefix(reply, []byte(seedCommand)) {
				t.Fatalf("reply %q is not guest memory", reply[:32])
			}
		case k == KindGuestError || k == KindBadReply || k == KindOutputSize:
		default:
			t.Fatalf("result %+v: unexpected error %v", res, err)
		}
	})
}

// FuzzUpload drives arbitrary bytes through the whole upload path,
// Engine.Inspect: wasmcheck, the rewriter, wazero's decoder and compiler,
// one instantiation and the ABI checks. Whatever the bytes, Inspect must
// answer (a module or a *LoadError) and allocate at most uploadAllocBound
// of them: no count may make anyone allocate more than the module's size
// times a constant, as the 20-byte module that asked wazero for 309 GB did.
//
// An input that starts with WebAssembly's magic number is a module; any
// other is a list of sections that sections() frames into one, so that
// mutations reach the sections' contents rather than break their sizes.
// The seeds are the WAT guests, the rewriter's corpus and the attacks of
// testdata/attacks, in both forms. make fuzz runs it 5s in CI; FUZZTIME=5m
// for longer.
func FuzzUpload(f *testing.F) {
	for _, pattern := range []string{"testdata/*.wasm", "testdata/attacks/*.wasm", "internal/wasmrewrite/testdata/*.wasm"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			if m, err := wasmbin.Parse(b); err == nil {
				var list []byte
				for _, s := range m.Sections {
					n := min(len(s.Data), 0xFFFF)
					list = append(binary.LittleEndian.AppendUint16(append(list, s.ID), uint16(n)), s.Data[:n]...)
				}
				f.Add(list)
			}
		}
	}
	// Make the collector keep the heap near 1 GiB, so that an input that
	// needs more than the bound shows as such rather than as swapping.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(1 << 30))
	// An engine of its own: in memory, so that fuzzing fills no cache
	// directory; a short compile deadline, so that no input runs into the
	// fuzzer's hang detection.
	e, err := NewEngine(context.Background(), EngineOptions{CompileTimeout: 5 * time.Second, Commands: openim.CommandName})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close(context.Background())
	lim := limits.Default()
	lim.MemoryPages = 16 // a fuzzed module may ask for all of it at once
	lim.InitInstructions = 1_000_000
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
			wasm = sections(wasm)
		}
		before := allocated()
		_, err := e.Inspect(context.Background(), wasm, lim)
		if used, bound := allocated()-before, uploadAllocBound(len(wasm), lim); used > bound {
			t.Fatalf("inspecting %d bytes allocated %d bytes, over the bound of %d (err %v)", len(wasm), used, bound, err)
		}
		if err != nil && !errors.As(err, new(*LoadError)) {
			t.Fatalf("Inspect: %T %v, want nil or a *LoadError", err, err)
		}
	})
}

// sections frames a list of sections, each an id, a 16-bit little-endian
// length and that many bytes (fewer at the end), into a module.
func sections(list []byte) []byte {
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	for len(list) >= 3 {
		id, n := list[0], min(int(binary.LittleEndian.Uint16(list[1:3])), len(list)-3)
		wasm = append(wasmbin.AppendU32(append(wasm, id), uint32(n)), list[3:3+n]...)
		list = list[3+n:]
	}
	return wasm
}

// uploadAllocBound is what FuzzUpload lets Inspect allocate for a module of n
// bytes: a fixed cost (a runtime, WASI, the host module, the guest's memory
// cap), plus 4 KiB per byte, about what wazero's compiler allocates for a
// function made of br_table labels, its costliest code (2.6 KB per label).
func uploadAllocBound(n int, lim limits.Limits) uint64 {
	return 64<<20 + uint64(lim.MemoryPages)<<16 + 4096*uint64(n)
}

// allocated returns the bytes the process allocated on the heap so far.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
