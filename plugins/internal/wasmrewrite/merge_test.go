package wasmrewrite

import (
	"context"
	"slices"
	"testing"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// dataSegments decodes the data segments of a module.
func dataSegments(tb testing.TB, wasm []byte) []wasmbin.DataSegment {
	tb.Helper()
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	segs, err := wasmbin.DataSegments(m.Section(wasmbin.SecData))
	if err != nil {
		tb.Fatal(err)
	}
	return segs
}

// TestMergeGoGuest merges a Go guest's data segments, requires far fewer of
// them, and requires the merged (and the merged then metered) module to give
// the same answers as the original.
func TestMergeGoGuest(t *testing.T) {
	t.Parallel()
	orig := goGuest(t)
	merged, err := MergeDataSegments(orig)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, merged)
	before, after := len(dataSegments(t, orig)), len(dataSegments(t, merged))
	t.Logf("data segments: %d -> %d", before, after)
	if after*10 > before {
		t.Errorf("merged %d segments into %d: want at least 10x fewer", before, after)
	}
	both := mustMeter(t, merged, MeterOptions{})

	// The interpreter compiles the guest several times faster than the
	// compiler; these calls are light.
	r := newRuntime(t, engines[0].cfg())
	om := instantiate(t, r, orig, "_initialize")
	mm := instantiate(t, r, merged, "_initialize")
	bm, _ := startMeteredGo(t, r, both)
	calls := []struct {
		name string
		args []uint64
	}{{"callback", nil}, {"fib", []uint64{12}}, {"primes", []uint64{1000}}, {"words", []uint64{50}}, {"json_round", []uint64{2}}}
	for _, c := range calls {
		want := call(t, om, c.name, c.args...)
		if got := call(t, mm, c.name, c.args...); !slices.Equal(got, want) {
			t.Errorf("%s%v = %v merged, %v original", c.name, c.args, got, want)
		}
		bm.fuel.Set(1 << 40)
		if got := call(t, bm.m, c.name, c.args...); !slices.Equal(got, want) {
			t.Errorf("%s%v = %v merged and metered, %v original", c.name, c.args, got, want)
		}
	}
}

// module assembles a module from raw section payloads, in the order given.
func module(sections ...wasmbin.Section) []byte {
	return (&wasmbin.Module{Sections: sections}).Encode()
}

// dataSection encodes active memory-0 segments at the given offsets.
func dataSection(segs ...wasmbin.DataSegment) wasmbin.Section {
	out := wasmbin.AppendU32(nil, uint32(len(segs)))
	for _, s := range segs {
		out = wasmbin.AppendDataSegment(out, s)
	}
	return wasmbin.Section{ID: wasmbin.SecData, Data: out}
}

func active(off int32, data string) wasmbin.DataSegment {
	expr := wasmbin.AppendS64([]byte{wasmbin.OpI32Const}, int64(off))
	return wasmbin.DataSegment{Mode: wasmbin.DataActive, Offset: append(expr, wasmbin.OpEnd), Init: []byte(data)}
}

// TestMergeLayouts checks the merged bytes for touching, overlapping, near
// and far segments, with a defined and an imported memory.
func TestMergeLayouts(t *testing.T) {
	t.Parallel()
	memory := wasmbin.Section{ID: wasmbin.SecMemory, Data: []byte{1, 0, 1}} // one memory, min 1 page
	imported := wasmbin.Section{ID: wasmbin.SecImport, Data: []byte{1, 1, 'e', 1, 'm', wasmbin.ExternMemory, 0, 1}}
	far := string(make([]byte, MaxMergeGap+1))
	tests := []struct {
		name   string
		memory wasmbin.Section
		in     []wasmbin.DataSegment
		want   []wasmbin.DataSegment
	}{
		{"touching", memory,
			[]wasmbin.DataSegment{active(10, "ab"), active(12, "cd")},
			[]wasmbin.DataSegment{active(10, "abcd")}},
		{"out of order", memory,
			[]wasmbin.DataSegment{active(12, "cd"), active(10, "ab"), active(0, "z")},
			[]wasmbin.DataSegment{active(0, "z\x00\x00\x00\x00\x00\x00\x00\x00\x00abcd")}},
		{"later segment wins an overlap", memory,
			[]wasmbin.DataSegment{active(10, "abcd"), active(11, "XY")},
			[]wasmbin.DataSegment{active(10, "aXYd")}},
		{"earlier segment loses even when it starts later", memory,
			[]wasmbin.DataSegment{active(11, "XYZ"), active(10, "abcd")},
			[]wasmbin.DataSegment{active(10, "abcd")}},
		{"small gap filled with zeros", memory,
			[]wasmbin.DataSegment{active(0, "a"), active(4, "b")},
			[]wasmbin.DataSegment{active(0, "a\x00\x00\x00b")}},
		{"large gap kept", memory,
			[]wasmbin.DataSegment{active(0, "a"), active(int32(1+len(far)), "b")},
			[]wasmbin.DataSegment{active(0, "a"), active(int32(1+len(far)), "b")}},
		{"imported memory: gaps kept, touching merged", imported,
			[]wasmbin.DataSegment{active(0, "a"), active(2, "b"), active(3, "c")},
			[]wasmbin.DataSegment{active(0, "a"), active(2, "bc")}},
		{"offset above 2 GiB", memory,
			[]wasmbin.DataSegment{active(-16, "a"), active(-15, "b")},
			[]wasmbin.DataSegment{active(-16, "ab")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := MergeDataSegments(module(tc.memory, dataSection(tc.in...)))
			if err != nil {
				t.Fatal(err)
			}
			got := dataSegments(t, out)
			if !slices.EqualFunc(got, tc.want, func(a, b wasmbin.DataSegment) bool {
				return a.Mode == b.Mode && slices.Equal(a.Offset, b.Offset) && string(a.Init) == string(b.Init)
			}) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMergeDataCount checks that a DataCount section is kept in step, and
// that modules whose code names segments are refused.
func TestMergeDataCount(t *testing.T) {
	t.Parallel()
	memory := wasmbin.Section{ID: wasmbin.SecMemory, Data: []byte{1, 0, 1}}
	types := wasmbin.Section{ID: wasmbin.SecType, Data: []byte{1, 0x60, 0, 0}}
	funcs := wasmbin.Section{ID: wasmbin.SecFunction, Data: []byte{1, 0}}
	count := wasmbin.Section{ID: wasmbin.SecDataCount, Data: []byte{3}}
	data := dataSection(active(0, "a"), active(1, "b"), active(2, "c"))
	nop := wasmbin.Section{ID: wasmbin.SecCode, Data: []byte{1, 2, 0, wasmbin.OpEnd}}
	drop := wasmbin.Section{ID: wasmbin.SecCode, Data: []byte{1, 5, 0, wasmbin.OpPrefixFC, 9, 2, wasmbin.OpEnd}}

	out, err := MergeDataSegments(module(types, funcs, memory, count, nop, data))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	m, _ := wasmbin.Parse(out)
	if got := m.Section(wasmbin.SecDataCount); !slices.Equal(got, []byte{1}) {
		t.Errorf("DataCount %v, want [1]", got)
	}

	out, err = MergeDataSegments(module(types, funcs, memory, count, drop, data))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	m, _ = wasmbin.Parse(out)
	bodies, err := wasmbin.Bodies(m.Section(wasmbin.SecCode))
	if err != nil {
		t.Fatal(err)
	}
	// data.drop 2 named an active segment, now merged into segment 0.
	if want := []byte{wasmbin.OpPrefixFC, 9, 0, wasmbin.OpEnd}; !slices.Equal(bodies[0].Code, want) {
		t.Errorf("code % x, want % x", bodies[0].Code, want)
	}

	global := wasmbin.AppendDataSegment([]byte{2}, active(0, "a"))
	global = wasmbin.AppendDataSegment(global, wasmbin.DataSegment{Mode: wasmbin.DataActive, Offset: []byte{wasmbin.OpGlobalGet, 0, wasmbin.OpEnd}, Init: []byte("g")})
	_, err = MergeDataSegments(module(memory, wasmbin.Section{ID: wasmbin.SecData, Data: global}))
	if want := "unsupported wasm feature: data[1] offset is not an i32.const"; err == nil || err.Error() != want {
		t.Errorf("global offset: got %v, want %q", err, want)
	}
}

// TestMergePassive merges a module whose code copies and drops passive
// segments, and requires every call to behave as before, traps included.
func TestMergePassive(t *testing.T) {
	t.Parallel()
	orig := readTestdata(t, "passive.wasm")
	merged, err := MergeDataSegments(orig)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, merged)
	segs := dataSegments(t, merged)
	var modes []uint32
	for _, s := range segs {
		modes = append(modes, s.Mode)
	}
	// "ab"+"cd" merge, "far" stays apart, the passive ones follow in order.
	if want := []uint32{0, 0, 1, 1}; !slices.Equal(modes, want) {
		t.Fatalf("segment modes %v, want %v", modes, want)
	}
	if string(segs[2].Init) != "PASSIVE-ONE" || string(segs[3].Init) != "two" {
		t.Errorf("passive segments %q, %q", segs[2].Init, segs[3].Init)
	}
	calls := []struct {
		name string
		args []uint64
	}{
		{"sum", nil}, {"init1", nil}, {"init2", nil}, {"init_active", []uint64{0}},
		{"init_active", []uint64{1}}, {"drop2", nil}, {"init2", nil}, {"drop_active", nil}, {"sum", nil},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			om, mm := instantiate(t, r, orig), instantiate(t, r, merged)
			for _, c := range calls {
				want, wantErr := om.ExportedFunction(c.name).Call(context.Background(), c.args...)
				got, gotErr := mm.ExportedFunction(c.name).Call(context.Background(), c.args...)
				if !slices.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
					t.Errorf("%s%v = %v, %v merged; %v, %v original", c.name, c.args, got, gotErr, want, wantErr)
				}
			}
		})
	}
}
