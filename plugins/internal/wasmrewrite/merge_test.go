package wasmrewrite

import (
	"errors"
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

	r := newRuntime(t, engines[1].cfg())
	om := instantiate(t, r, orig, "_initialize")
	mm := instantiate(t, r, merged, "_initialize")
	bm, _ := startMeteredGo(t, r, both)
	for _, c := range append(goCalls, struct {
		name string
		args []uint64
	}{"callback", nil}) {
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

	_, err = MergeDataSegments(module(types, funcs, memory, count, drop, data))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("data.drop: got %v, want ErrUnsupported", err)
	}
	if want := "unsupported wasm feature: body[0] uses data[2] by index"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	passive := wasmbin.AppendDataSegment([]byte{2}, wasmbin.DataSegment{Mode: wasmbin.DataPassive, Init: []byte("p")})
	passive = wasmbin.AppendDataSegment(passive, active(0, "a"))
	_, err = MergeDataSegments(module(memory, wasmbin.Section{ID: wasmbin.SecData, Data: passive}))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("passive: got %v, want ErrUnsupported", err)
	}
}
