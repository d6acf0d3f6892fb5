package wasmcheck

import (
	"bytes"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// A few helpers to assemble modules byte by byte: the attacks are malformed
// on purpose, which no text format can express.

// module is the header followed by sections.
func module(sections ...[]byte) []byte {
	return cat(append([][]byte{header}, sections...)...)
}

// section is a section with its id and size.
func section(id byte, payload ...[]byte) []byte {
	p := cat(payload...)
	return cat([]byte{id}, leb(uint32(len(p))), p)
}

// vec is a vector: its length, then its entries.
func vec(entries ...[]byte) []byte {
	return cat(append([][]byte{leb(uint32(len(entries)))}, entries...)...)
}

// name is a length-prefixed name.
func name(s string) []byte { return cat(leb(uint32(len(s))), []byte(s)) }

func leb(v uint32) []byte { return wasmbin.AppendU32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// Instructions and types the helpers use.
var (
	funcType0 = []byte{0x60, 0, 0} // () -> ()
	i32Const0 = []byte{0x41, 0}
	blockOpen = []byte{0x02, 0x40}
	loopOpen  = []byte{0x03, 0x40}
	ifOpen    = []byte{0x41, 0, 0x04, 0x40} // i32.const 0; if
	end       = []byte{0x0B}
	noLocals  = []byte{0}
)

// body is a code entry: its size, locals and code (final end included).
func body(locals []byte, code ...[]byte) []byte {
	b := cat(append([][]byte{locals}, code...)...)
	return cat(leb(uint32(len(b))), b)
}

// funcs is a module of functions of type () -> (), one per body.
func funcs(bodies ...[]byte) []byte {
	indices := make([][]byte, len(bodies))
	for i := range indices {
		indices[i] = []byte{0}
	}
	return module(
		section(wasmbin.SecType, vec(funcType0)),
		section(wasmbin.SecFunction, vec(indices...)),
		section(wasmbin.SecCode, vec(bodies...)),
	)
}

// code is a module of one function with no locals and the given code.
func code(parts ...[]byte) []byte {
	return funcs(body(noLocals, append(parts, end)...))
}

// nested opens n blocks (loops or ifs) and closes them.
func nested(open []byte, n int) []byte {
	return code(rep(open, n), rep(end, n))
}

// brTable is a function whose block ends in a br_table of n labels plus the
// default, all to the block.
func brTable(n int) []byte {
	return code(blockOpen, i32Const0, []byte{0x0E}, leb(uint32(n)), rep([]byte{0}, n+1), end)
}

// brIfs is a function whose block holds n br_if to itself.
func brIfs(n int) []byte {
	return code(blockOpen, rep(cat(i32Const0, []byte{0x0D, 0}), n), end)
}
