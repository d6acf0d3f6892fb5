package wire

import (
	"bytes"
	"testing"
)

// TestBlocks checks that copies carved from one block never overlap, keep a
// spare byte of capacity, survive the source's reuse, and that a large input
// or a full block gets fresh memory.
func TestBlocks(t *testing.T) {
	var b blocks
	src := make([]byte, 1000)
	var copies [][]byte
	var want [][]byte
	for i := range 200 { // 200 KB: several blocks
		for j := range src {
			src[j] = byte(i + j)
		}
		c := b.copyOf(src)
		if !bytes.Equal(c, src) || cap(c) != len(c)+1 {
			t.Fatalf("copy %d: len %d cap %d, want a copy of %d bytes with one spare", i, len(c), cap(c), len(src))
		}
		c = c[:cap(c)]
		c[len(c)-1] = 0xff // the spare byte belongs to this copy only
		copies = append(copies, c[:len(c)-1])
		want = append(want, bytes.Clone(src))
	}
	for i := range copies {
		if !bytes.Equal(copies[i], want[i]) {
			t.Fatalf("copy %d changed after later copies", i)
		}
	}
	big := make([]byte, maxBlockCopy)
	c := b.copyOf(big)
	if len(c) != len(big) || cap(c) != len(big)+1 {
		t.Fatalf("large copy: len %d cap %d", len(c), cap(c))
	}
	if n := testing.AllocsPerRun(1000, func() { b.copyOf(src) }); n > 0.05 {
		t.Fatalf("%v allocations per copy, want one per block (%d copies)", n, blockSize/len(src))
	}
}
