//go:build amd64 || arm64 || 386 || wasm

package jsonx

import "unsafe"

// Load64 returns the eight bytes of b at i as a little-endian word; the caller
// guarantees i+8 <= len(b). Go's wasm backend does not merge byte loads, so
// binary.LittleEndian.Uint64 costs eight loads, seven shifts and seven ors
// there; on these little-endian targets, which all allow unaligned loads, this
// is one load. Generated code uses it to compare keys a word at a time.
// load_portable.go has the same functions for every other target.
func Load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// Load32 is Load64 for four bytes; the caller guarantees i+4 <= len(b).
func Load32(b []byte, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// Load16 is Load64 for two bytes; the caller guarantees i+2 <= len(b).
func Load16(b []byte, i int) uint16 {
	return *(*uint16)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}
