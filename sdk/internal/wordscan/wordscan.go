// Package wordscan finds, eight bytes at a time, the bytes a scan of a JSON
// string must stop at. Inside a Go wasip1 guest each iteration of a byte loop
// costs about a hundred wasm instructions (every backward branch goes through
// Go's dispatch loop), so the SDK's string scans test a word per step: the
// protocol decoder (sdk/openim) and textmsg (sdk/plugin/textmsg) share this.
package wordscan

// SWAR constants: one byte repeated across a word.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Special sets the high bit of each byte of the little-endian word x that is
// < 0x20, '"', '\\' or >= 0x80, and clears every other bit. The zero-byte
// tests can also flag bytes above a true hit (borrows), never below, so the
// lowest flag is exact: bits.TrailingZeros64(m)>>3 is the first such byte.
// It is small enough to inline.
func Special(x uint64) uint64 {
	q := x ^ ('"' * ones)
	s := x ^ ('\\' * ones)
	return ((x-0x20*ones)&^x | (q-ones)&^q | (s-ones)&^s | x) & highs
}
