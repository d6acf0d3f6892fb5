package wasmbin

import (
	"errors"
	"testing"
)

// TestInstr decodes one instruction of each immediate shape and checks how
// many bytes it spans.
func TestInstr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		code  []byte
		op    byte
		sub   uint32
		index uint32
	}{
		{"nop", []byte{0x01}, 0x01, 0, 0},
		{"block empty", []byte{OpBlock, BlockEmpty}, OpBlock, 0, 0},
		{"block i32", []byte{OpLoop, 0x7F}, OpLoop, 0, 0},
		{"block type index", []byte{OpIf, 0x81, 0x01}, OpIf, 0, 0},
		{"br", []byte{OpBr, 0x85, 0x01}, OpBr, 0, 133},
		{"br_table", []byte{OpBrTable, 2, 0, 1, 2}, OpBrTable, 0, 0},
		{"call", []byte{OpCall, 0x80, 0x80, 0x01}, OpCall, 0, 16384},
		{"call_indirect", []byte{OpCallIndirect, 3, 0}, OpCallIndirect, 0, 3},
		{"select t", []byte{0x1C, 1, 0x7E}, 0x1C, 0, 0},
		{"i64.load", []byte{0x29, 3, 0x80, 0x01}, 0x29, 0, 0},
		{"memarg with memory index", []byte{0x28, 0x42, 1, 8}, 0x28, 0, 0},
		{"i32.const", []byte{OpI32Const, 0x7F}, OpI32Const, 0, 0},
		{"i64.const", []byte{OpI64Const, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, OpI64Const, 0, 0},
		{"f32.const", []byte{0x43, 0, 0, 0x80, 0x3f}, 0x43, 0, 0},
		{"f64.const", []byte{0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, 0x44, 0, 0},
		{"memory.grow", []byte{OpMemoryGrow, 0}, OpMemoryGrow, 0, 0},
		{"ref.null", []byte{0xD0, 0x70}, 0xD0, 0, 0},
		{"ref.func", []byte{0xD2, 7}, 0xD2, 0, 7},
		{"i32.trunc_sat_f32_s", []byte{OpPrefixFC, 0}, OpPrefixFC, 0, 0},
		{"memory.init", []byte{OpPrefixFC, 8, 5, 0}, OpPrefixFC, FCMemoryInit, 5},
		{"data.drop", []byte{OpPrefixFC, 9, 0x81, 0x02}, OpPrefixFC, FCDataDrop, 257},
		{"memory.copy", []byte{OpPrefixFC, 10, 0, 0}, OpPrefixFC, FCMemoryCopy, 0},
		{"memory.fill", []byte{OpPrefixFC, 11, 0}, OpPrefixFC, FCMemoryFill, 0},
		{"table.init", []byte{OpPrefixFC, 12, 1, 0}, OpPrefixFC, FCTableInit, 1},
		{"table.size", []byte{OpPrefixFC, 16, 0}, OpPrefixFC, 16, 0},
		{"v128.load", []byte{OpPrefixSIMD, 0, 4, 0}, OpPrefixSIMD, 0, 0},
		{"v128.const", append([]byte{OpPrefixSIMD, 12}, make([]byte, 16)...), OpPrefixSIMD, 12, 0},
		{"i8x16.extract_lane_s", []byte{OpPrefixSIMD, 21, 15}, OpPrefixSIMD, 21, 0},
		{"v128.load8_lane", []byte{OpPrefixSIMD, 84, 0, 0, 3}, OpPrefixSIMD, 84, 0},
		{"i32x4.add (two-byte sub-opcode)", []byte{OpPrefixSIMD, 0xAE, 0x01}, OpPrefixSIMD, 174, 0},
		{"atomic.fence", []byte{OpPrefixAtomic, 3, 0}, OpPrefixAtomic, 3, 0},
		{"i32.atomic.rmw.add", []byte{OpPrefixAtomic, 0x1E, 2, 0}, OpPrefixAtomic, 0x1E, 0},
		{"return_call", []byte{OpReturnCall, 4}, OpReturnCall, 0, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code := append(tc.code, OpEnd)
			r := NewReader(code)
			in, err := r.Instr()
			if err != nil {
				t.Fatal(err)
			}
			if in.Op != tc.op || in.Sub != tc.sub || in.Index != tc.index {
				t.Errorf("got op %#x sub %d index %d, want %#x %d %d", in.Op, in.Sub, in.Index, tc.op, tc.sub, tc.index)
			}
			if in.Start != 0 || in.End != len(tc.code) {
				t.Errorf("spans [%d,%d), want [0,%d)", in.Start, in.End, len(tc.code))
			}
		})
	}
}

func TestInstrErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code []byte
		want error
		msg  string
	}{
		{"try", []byte{0x06, 0x40}, ErrUnsupported, "unsupported wasm feature: opcode 0x6 at offset 0"},
		{"gc prefix", []byte{0xFB, 0}, ErrUnsupported, "unsupported wasm feature: opcode 0xfb at offset 0"},
		{"unknown 0xfc", []byte{OpPrefixFC, 99}, ErrUnsupported, "unsupported wasm feature: opcode 0xfc 99 at offset 0"},
		{"typed reference block type", []byte{OpBlock, 0x64, 0}, ErrUnsupported, "unsupported wasm feature: block type 0x64 at offset 1"},
		{"truncated f64.const", []byte{0x44, 0, 0}, ErrMalformed, ""},
		{"truncated br_table", []byte{OpBrTable, 5, 0}, ErrMalformed, ""},
		{"empty", nil, ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewReader(tc.code).Instr()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
		})
	}
}
