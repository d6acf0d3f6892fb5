//go:build !(amd64 || arm64 || 386 || wasm)

package wire

import "encoding/binary"

// load64 returns the eight bytes of b at i as a little-endian word. This
// portable form serves big-endian targets and those where unaligned loads trap
// or are emulated; load_unsafe.go has the one-load form.
func load64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// put64 stores v at b[i:i+8] little-endian.
func put64(b []byte, i int, v uint64) { binary.LittleEndian.PutUint64(b[i:], v) }
