//go:build !wasm

package wire

// copyInput allocates: native decoders run concurrently (tests, tools), and
// allocation is cheap outside WebAssembly.
func copyInput(data []byte) []byte {
	return append(make([]byte, 0, len(data)+1), data...)
}
