//go:build amd64 || arm64 || 386 || wasm

package wire

import "unsafe"

// load64 returns the eight bytes of b at i as a little-endian word; the caller
// guarantees i+8 <= len(b). As jsonx.Load64: one load on these little-endian
// targets, which all allow unaligned loads (Go's wasm backend does not merge
// byte loads). load_portable.go has the same functions for every other target.
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// put64 stores v at b[i:i+8] little-endian; the caller guarantees i+8 <= len(b).
func put64(b []byte, i int, v uint64) {
	*(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i)) = v
}
