package wasmbin

import (
	"errors"
	"math"
	"testing"
)

func TestLEBRoundTrip(t *testing.T) {
	t.Parallel()
	unsigned := []uint64{0, 1, 63, 64, 127, 128, 255, 16383, 16384, math.MaxUint32, math.MaxUint64}
	for _, v := range unsigned {
		b := AppendU64(nil, v)
		got, err := NewReader(b).U64()
		if err != nil || got != v {
			t.Errorf("U64(% x) = %d, %v; want %d", b, got, err, v)
		}
		if v <= math.MaxUint32 {
			got, err := NewReader(b).U32()
			if err != nil || uint64(got) != v {
				t.Errorf("U32(% x) = %d, %v; want %d", b, got, err, v)
			}
		}
	}
	signed := []int64{0, 1, -1, 63, -64, 64, -65, 127, -128, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	for _, v := range signed {
		b := AppendS64(nil, v)
		got, err := NewReader(b).S64()
		if err != nil || got != v {
			t.Errorf("S64(% x) = %d, %v; want %d", b, got, err, v)
		}
		if v >= math.MinInt32 && v <= math.MaxInt32 {
			got, err := NewReader(b).S32()
			if err != nil || int64(got) != v {
				t.Errorf("S32(% x) = %d, %v; want %d", b, got, err, v)
			}
		}
	}
}

// TestLEBRefusals checks the spec's limits on length and unused bits.
func TestLEBRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		read func(*Reader) error
		ok   bool
	}{
		{"u32 max", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, u32, true},
		{"u32 high bits set", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, u32, false},
		{"u32 six bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, u32, false},
		{"u32 padded zero", []byte{0x80, 0x80, 0x80, 0x80, 0x00}, u32, true},
		{"u32 truncated", []byte{0x80}, u32, false},
		{"s32 min", []byte{0x80, 0x80, 0x80, 0x80, 0x78}, s32, true},
		{"s32 -1 padded", []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, s32, true},
		{"s32 bad sign bits", []byte{0xff, 0xff, 0xff, 0xff, 0x4f}, s32, false},
		{"s32 positive overflow", []byte{0x80, 0x80, 0x80, 0x80, 0x08}, s32, false},
		{"s64 min", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, s64, true},
		{"s64 bad last byte", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, s64, false},
		{"u64 eleven bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, u64, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(NewReader(tc.in))
			if tc.ok && err != nil {
				t.Errorf("got %v, want ok", err)
			}
			if !tc.ok && !errors.Is(err, ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func u32(r *Reader) error { _, err := r.U32(); return err }
func u64(r *Reader) error { _, err := r.U64(); return err }
func s32(r *Reader) error { _, err := r.S32(); return err }
func s64(r *Reader) error { _, err := r.S64(); return err }
