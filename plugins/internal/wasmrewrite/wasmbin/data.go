package wasmbin

import "fmt"

// Data segment modes, the flags that open each segment's encoding.
const (
	DataActive         uint32 = 0 // active, memory 0, offset expression
	DataPassive        uint32 = 1 // passive: copied only by memory.init
	DataActiveExplicit uint32 = 2 // active, explicit memory index
)

// DataSegment is one decoded data segment.
type DataSegment struct {
	Mode   uint32
	Memory uint32
	// Offset is the offset expression of an active segment, final end
	// included; nil for a passive one.
	Offset []byte
	Init   []byte
}

// DataSegments decodes the data section. Offset and Init alias payload.
func DataSegments(payload []byte) ([]DataSegment, error) {
	if payload == nil {
		return nil, nil
	}
	r := NewReader(payload)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	if int(n) > r.Len() {
		return nil, fmt.Errorf("%w: data section claims %d segments in %d bytes", ErrMalformed, n, r.Len())
	}
	out := make([]DataSegment, n)
	for i := range out {
		s := &out[i]
		if s.Mode, err = r.U32(); err != nil {
			return nil, err
		}
		switch s.Mode {
		case DataActive, DataActiveExplicit:
			if s.Mode == DataActiveExplicit {
				if s.Memory, err = r.U32(); err != nil {
					return nil, err
				}
			}
			if s.Offset, err = r.ConstExpr(); err != nil {
				return nil, fmt.Errorf("offset of data[%d]: %w", i, err)
			}
		case DataPassive:
		default:
			return nil, fmt.Errorf("%w: data[%d] has mode %d", ErrMalformed, i, s.Mode)
		}
		size, err := r.U32()
		if err != nil {
			return nil, err
		}
		if s.Init, err = r.Next(int(size)); err != nil {
			return nil, fmt.Errorf("bytes of data[%d]: %w", i, err)
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last data segment", ErrMalformed, r.Len())
	}
	return out, nil
}

// ConstExpr reads a constant expression up to and including its end and
// returns its bytes.
func (r *Reader) ConstExpr() ([]byte, error) {
	start := r.pos
	for {
		in, err := r.Instr()
		if err != nil {
			return nil, err
		}
		switch in.Op {
		case OpEnd:
			return r.b[start:r.pos:r.pos], nil
		case OpBlock, OpLoop, OpIf, OpElse:
			return nil, fmt.Errorf("%w: control instruction %#x in constant expression at offset %d", ErrMalformed, in.Op, in.Start)
		}
	}
}

// ConstI32 returns the value of a constant expression that is a single
// i32.const, and false for any other expression.
func ConstI32(expr []byte) (int32, bool) {
	r := NewReader(expr)
	if op, err := r.Byte(); err != nil || op != OpI32Const {
		return 0, false
	}
	v, err := r.S32()
	if err != nil {
		return 0, false
	}
	if end, err := r.Byte(); err != nil || end != OpEnd || r.Len() != 0 {
		return 0, false
	}
	return v, true
}

// AppendDataSegment appends the encoding of s.
func AppendDataSegment(out []byte, s DataSegment) []byte {
	out = AppendU32(out, s.Mode)
	if s.Mode == DataActiveExplicit {
		out = AppendU32(out, s.Memory)
	}
	out = append(out, s.Offset...)
	out = AppendU32(out, uint32(len(s.Init)))
	return append(out, s.Init...)
}
