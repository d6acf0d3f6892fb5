package wordscan

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// TestSpecial puts each byte value at each position of a word of plain
// bytes and checks that the lowest flag is the first special byte.
func TestSpecial(t *testing.T) {
	isSpecial := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' || c >= 0x80 }
	for pos := range 8 {
		for c := range 256 {
			var w [8]byte
			for i := range w {
				w[i] = 'a'
			}
			w[pos] = byte(c)
			m := Special(binary.LittleEndian.Uint64(w[:]))
			switch {
			case isSpecial(byte(c)) && (m == 0 || bits.TrailingZeros64(m)>>3 != pos):
				t.Fatalf("byte %#x at %d: mask %#x, want the first flag at byte %d", c, pos, m, pos)
			case !isSpecial(byte(c)) && m != 0:
				t.Fatalf("byte %#x at %d: mask %#x, want none", c, pos, m)
			}
		}
	}
}
