package wasmbin

import (
	"errors"
	"fmt"
)

// ErrMalformed reports bytes that are not a well-formed WebAssembly binary:
// a truncated section, an over-long LEB128 integer, a bad magic number. The
// module should be refused; nothing the rewriter does can fix it.
var ErrMalformed = errors.New("malformed wasm")

// ErrUnsupported reports a well-formed module that uses a feature this package
// does not decode, such as the exception-handling or GC proposals. The error
// text names the feature or opcode.
var ErrUnsupported = errors.New("unsupported wasm feature")

// Reader decodes the primitive values of the WebAssembly binary format from a
// byte slice. The zero Reader is empty. Methods return an error wrapping
// ErrMalformed when the input ends early or an integer is over-long.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	b   []byte
	pos int
}

// NewReader returns a Reader positioned at the start of b. The Reader never
// modifies b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Pos returns the offset of the next unread byte.
func (r *Reader) Pos() int { return r.pos }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.pos }

// Bytes returns the whole input the Reader was created with.
func (r *Reader) Bytes() []byte { return r.b }

func (r *Reader) errEOF(what string) error {
	return fmt.Errorf("%w: unexpected end of input reading %s at offset %d", ErrMalformed, what, r.pos)
}

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, r.errEOF("byte")
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

// Next reads n bytes and returns them as a sub-slice of the input.
func (r *Reader) Next(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.pos {
		return nil, r.errEOF(fmt.Sprintf("%d bytes", n))
	}
	s := r.b[r.pos : r.pos+n : r.pos+n]
	r.pos += n
	return s, nil
}

// U32 reads an unsigned LEB128 integer of at most 32 bits.
func (r *Reader) U32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

// U64 reads an unsigned LEB128 integer of at most 64 bits.
func (r *Reader) U64() (uint64, error) { return r.uleb(64) }

// S32 reads a signed LEB128 integer of at most 32 bits.
func (r *Reader) S32() (int32, error) {
	v, err := r.sleb(32)
	return int32(v), err
}

// S33 reads a signed LEB128 integer of at most 33 bits, the encoding of a
// block type's type index.
func (r *Reader) S33() (int64, error) { return r.sleb(33) }

// S64 reads a signed LEB128 integer of at most 64 bits.
func (r *Reader) S64() (int64, error) { return r.sleb(64) }

// Name reads a length-prefixed UTF-8 name. It returns a sub-slice of the input.
func (r *Reader) Name() ([]byte, error) {
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	return r.Next(int(n))
}

// uleb reads an unsigned LEB128 value of at most bits bits. Like the spec, it
// refuses encodings longer than ceil(bits/7) bytes and unused high bits that
// are set in the last byte.
func (r *Reader) uleb(bits uint) (uint64, error) {
	var v uint64
	maxBytes := int((bits + 6) / 7)
	for i := 0; i < maxBytes; i++ {
		if r.pos >= len(r.b) {
			return 0, r.errEOF("integer")
		}
		c := r.b[r.pos]
		r.pos++
		shift := uint(7 * i)
		if i == maxBytes-1 {
			// The last byte may only carry the bits that remain.
			rem := bits - shift
			if c&0x80 != 0 || (rem < 7 && c>>rem != 0) {
				return 0, fmt.Errorf("%w: integer too long at offset %d", ErrMalformed, r.pos-1)
			}
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: integer too long at offset %d", ErrMalformed, r.pos)
}

// sleb reads a signed LEB128 value of at most bits bits.
func (r *Reader) sleb(bits uint) (int64, error) {
	var v int64
	maxBytes := int((bits + 6) / 7)
	for i := 0; i < maxBytes; i++ {
		if r.pos >= len(r.b) {
			return 0, r.errEOF("integer")
		}
		c := r.b[r.pos]
		r.pos++
		shift := uint(7 * i)
		if i == maxBytes-1 {
			// The unused bits of the last byte must all equal the sign bit.
			rem := bits - shift // bits this byte carries, 1..7
			if c&0x80 != 0 {
				return 0, fmt.Errorf("%w: integer too long at offset %d", ErrMalformed, r.pos-1)
			}
			if rem < 7 {
				high := int8(c<<1) >> rem // the sign bit and the unused bits above it
				if high != 0 && high != -1 {
					return 0, fmt.Errorf("%w: integer too long at offset %d", ErrMalformed, r.pos-1)
				}
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			shift += 7
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: integer too long at offset %d", ErrMalformed, r.pos)
}

// AppendU32 appends v as an unsigned LEB128 integer.
func AppendU32(b []byte, v uint32) []byte { return AppendU64(b, uint64(v)) }

// AppendU64 appends v as an unsigned LEB128 integer.
func AppendU64(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// AppendS64 appends v as a signed LEB128 integer, the encoding of i32.const
// and i64.const operands.
func AppendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
