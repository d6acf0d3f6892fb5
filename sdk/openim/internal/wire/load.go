package wire

import (
	"encoding/binary"

	"github.com/imhook/imhook/sdk/openim/internal/jsonx"
)

// load64 reads the little-endian word at b[i:i+8]; the caller guarantees it
// fits. It is jsonx.Load64: one i64.load inside a wasm guest, where Go's
// backend would otherwise make eight byte loads of binary.LittleEndian.
func load64(b []byte, i int) uint64 { return jsonx.Load64(b, i) }

// put64 stores v little-endian at b[i:i+8]. Only the host writes the wire form,
// natively, where the compiler merges these stores into one.
func put64(b []byte, i int, v uint64) { binary.LittleEndian.PutUint64(b[i:], v) }
