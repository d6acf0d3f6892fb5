package wire

// blocks hands out the decoder's copies of its input from large blocks rather
// than one allocation each. Inside a Go wasip1 guest an allocation of a few
// hundred bytes costs about 5,000 wasm instructions (its size class's span is
// refilled every ~20 objects), more than the whole decode; carving the copy
// from a 64 KiB block costs a third of that. The price: a string a plugin
// keeps after the call keeps its block alive, so strings kept for long should
// be cloned (strings.Clone), as the SDK's documentation says.
//
// Blocks are not safe for concurrent use: the WebAssembly build (copy_wasm.go)
// uses one, since a guest runs one call at a time; native builds allocate.
type blocks struct {
	cur []byte // the current block; len is what is handed out
}

const (
	blockSize = 64 << 10 // bytes per block
	// maxBlockCopy is the largest input carved from a block; larger ones get
	// their own allocation, so a large input wastes at most a quarter block.
	maxBlockCopy = blockSize / 4
)

// copyOf returns a copy of data with one spare byte of capacity (see
// Reader.Init) that no later copy overlaps.
func (b *blocks) copyOf(data []byte) []byte {
	n := len(data) + 1
	if n > maxBlockCopy {
		return append(make([]byte, 0, n), data...)
	}
	if cap(b.cur)-len(b.cur) < n {
		b.cur = make([]byte, 0, blockSize)
	}
	start := len(b.cur)
	b.cur = append(b.cur, data...)
	b.cur = b.cur[:start+n]
	return b.cur[start : start+len(data) : start+n]
}
