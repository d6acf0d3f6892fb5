//go:build !(amd64 || arm64 || 386 || wasm)

package jsonx

import "encoding/binary"

// Load64 returns the eight bytes of b at i as a little-endian word. This
// portable form serves big-endian targets and those where unaligned loads
// trap or are emulated; load_unsafe.go has the one-load form.
func Load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// Load32 is Load64 for four bytes.
func Load32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// Load16 is Load64 for two bytes.
func Load16(b []byte, i int) uint16 { return binary.LittleEndian.Uint16(b[i:]) }
