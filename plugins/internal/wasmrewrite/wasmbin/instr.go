package wasmbin

import "fmt"

// Opcodes the rewriter treats specially. The rest are only skipped over.
const (
	OpUnreachable        byte = 0x00
	OpBlock              byte = 0x02
	OpLoop               byte = 0x03
	OpIf                 byte = 0x04
	OpElse               byte = 0x05
	OpEnd                byte = 0x0B
	OpBr                 byte = 0x0C
	OpBrIf               byte = 0x0D
	OpBrTable            byte = 0x0E
	OpReturn             byte = 0x0F
	OpCall               byte = 0x10
	OpCallIndirect       byte = 0x11
	OpReturnCall         byte = 0x12
	OpReturnCallIndirect byte = 0x13
	OpGlobalGet          byte = 0x23
	OpGlobalSet          byte = 0x24
	OpMemoryGrow         byte = 0x40
	OpI32Const           byte = 0x41
	OpI64Const           byte = 0x42
	OpI64LtS             byte = 0x53
	OpI64Sub             byte = 0x7D
	OpI64ExtendI32U      byte = 0xAD
	OpI64ShrU            byte = 0x88
	OpI64Shl             byte = 0x86
	OpLocalGet           byte = 0x20
	OpPrefixFC           byte = 0xFC
	OpPrefixSIMD         byte = 0xFD
	OpPrefixAtomic       byte = 0xFE
)

// Sub-opcodes of the 0xFC prefix that take a size operand or name a data
// segment.
const (
	FCMemoryInit uint32 = 8
	FCDataDrop   uint32 = 9
	FCMemoryCopy uint32 = 10
	FCMemoryFill uint32 = 11
	FCTableInit  uint32 = 12
	FCTableCopy  uint32 = 14
	FCTableGrow  uint32 = 15
	FCTableFill  uint32 = 17
)

// BlockEmpty is the block type of a block with no parameters and results.
const BlockEmpty byte = 0x40

// Instr is one decoded instruction: its opcode, the sub-opcode of prefixed
// instructions, and where it lies in the code it was read from. Immediates are
// skipped except Index, the first index immediate of instructions that have one
// (the data segment of memory.init and data.drop, the function of call).
type Instr struct {
	Op    byte
	Sub   uint32 // sub-opcode after a 0xFC, 0xFD or 0xFE prefix
	Index uint32
	// Start and End are the offsets of the instruction's first byte and of the
	// byte after its last immediate.
	Start, End int
	// IndexStart and IndexEnd delimit the encoding of Index when the
	// instruction has one.
	IndexStart, IndexEnd int
}

// Instr decodes the instruction at the reader's position and moves past it.
//
// # Errors
//
// ErrMalformed when the input ends inside the instruction or an immediate is
// badly encoded; ErrUnsupported, naming the opcode, for instructions of
// proposals wazero does not run (exceptions, GC, typed function references).
func (r *Reader) Instr() (Instr, error) {
	in := Instr{Start: r.pos}
	op, err := r.Byte()
	if err != nil {
		return in, err
	}
	in.Op = op
	switch {
	case op == 0x00 || op == 0x01 || op == OpElse || op == OpEnd || op == OpReturn ||
		op == 0x1A || op == 0x1B || (op >= 0x45 && op <= 0xC4) || op == 0xD1:
		// No immediates: unreachable, nop, else, end, return, drop, select,
		// numeric operators, sign extension, ref.is_null.
	case op == OpBlock || op == OpLoop || op == OpIf:
		err = r.blockType()
	case op == OpBr || op == OpBrIf || op == OpCall || op == OpReturnCall ||
		(op >= 0x20 && op <= 0x26) || op == 0xD2:
		// One index: label, function, local, global, table, ref.func.
		in.IndexStart = r.pos
		in.Index, err = r.U32()
		in.IndexEnd = r.pos
	case op == OpBrTable:
		var n uint32
		if n, err = r.U32(); err == nil {
			for i := uint32(0); i <= n && err == nil; i++ { // n labels and the default
				_, err = r.U32()
			}
		}
	case op == OpCallIndirect || op == OpReturnCallIndirect:
		if in.Index, err = r.U32(); err == nil { // type
			_, err = r.U32() // table
		}
	case op == 0x1C: // select t*
		var n uint32
		if n, err = r.U32(); err == nil {
			for i := uint32(0); i < n && err == nil; i++ {
				err = r.valType()
			}
		}
	case op >= 0x28 && op <= 0x3E: // loads and stores
		err = r.memArg()
	case op == 0x3F || op == OpMemoryGrow: // memory.size, memory.grow
		_, err = r.U32()
	case op == OpI32Const:
		_, err = r.S32()
	case op == OpI64Const:
		_, err = r.S64()
	case op == 0x43:
		_, err = r.Next(4)
	case op == 0x44:
		_, err = r.Next(8)
	case op == 0xD0: // ref.null t
		err = r.valType()
	case op == OpPrefixFC:
		err = r.prefixFC(&in)
	case op == OpPrefixSIMD:
		err = r.prefixSIMD(&in)
	case op == OpPrefixAtomic:
		err = r.prefixAtomic(&in)
	default:
		return in, fmt.Errorf("%w: opcode %#x at offset %d", ErrUnsupported, op, in.Start)
	}
	in.End = r.pos
	return in, err
}

// blockType skips a block type: the empty type, one value type, or a type
// index encoded as a non-negative s33.
func (r *Reader) blockType() error {
	if r.pos >= len(r.b) {
		return r.errEOF("block type")
	}
	switch c := r.b[r.pos]; {
	case c == BlockEmpty || isValType(c):
		r.pos++
		return nil
	case c&0x40 != 0:
		// A negative s33 that is none of the types above: a reference type of
		// the GC or function-references proposals.
		return fmt.Errorf("%w: block type %#x at offset %d", ErrUnsupported, c, r.pos)
	}
	_, err := r.S33()
	return err
}

// isValType reports whether c is one of the value types of wasm 2.0:
// i32, i64, f32, f64, v128, funcref, externref.
func isValType(c byte) bool {
	return (c >= 0x7B && c <= 0x7F) || c == 0x70 || c == 0x6F
}

func (r *Reader) valType() error {
	c, err := r.Byte()
	if err != nil {
		return err
	}
	if !isValType(c) {
		return fmt.Errorf("%w: value type %#x at offset %d", ErrUnsupported, c, r.pos-1)
	}
	return nil
}

// memArg skips a memory argument: alignment (with bit 6 announcing a memory
// index, as multi-memory encodes it) and offset.
func (r *Reader) memArg() error {
	align, err := r.U32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.U32(); err != nil {
			return err
		}
	}
	_, err = r.U64()
	return err
}

func (r *Reader) prefixFC(in *Instr) (err error) {
	if in.Sub, err = r.U32(); err != nil {
		return err
	}
	switch in.Sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // saturating truncations
	case FCMemoryInit, FCTableInit: // segment index, then memory or table
		in.IndexStart = r.pos
		if in.Index, err = r.U32(); err == nil {
			in.IndexEnd = r.pos
			_, err = r.U32()
		}
	case FCDataDrop, 13: // data.drop, elem.drop
		in.IndexStart = r.pos
		in.Index, err = r.U32()
		in.IndexEnd = r.pos
	case FCMemoryCopy, FCTableCopy: // destination and source
		if _, err = r.U32(); err == nil {
			_, err = r.U32()
		}
	case FCMemoryFill, FCTableGrow, 16, FCTableFill: // one memory or table
		_, err = r.U32()
	default:
		return fmt.Errorf("%w: opcode 0xfc %d at offset %d", ErrUnsupported, in.Sub, in.Start)
	}
	return err
}

func (r *Reader) prefixSIMD(in *Instr) (err error) {
	if in.Sub, err = r.U32(); err != nil {
		return err
	}
	switch s := in.Sub; {
	case s <= 11 || s == 92 || s == 93: // loads and stores
		return r.memArg()
	case s == 12 || s == 13: // v128.const, i8x16.shuffle
		_, err = r.Next(16)
		return err
	case s >= 21 && s <= 34: // extract and replace lane
		_, err = r.Byte()
		return err
	case s >= 84 && s <= 91: // load and store lane
		if err = r.memArg(); err == nil {
			_, err = r.Byte()
		}
		return err
	case s <= 0xFF:
		return nil
	}
	return fmt.Errorf("%w: opcode 0xfd %d at offset %d", ErrUnsupported, in.Sub, in.Start)
}

func (r *Reader) prefixAtomic(in *Instr) (err error) {
	if in.Sub, err = r.U32(); err != nil {
		return err
	}
	switch s := in.Sub; {
	case s == 0x03: // atomic.fence
		_, err = r.Byte()
		return err
	case s <= 0x02 || (s >= 0x10 && s <= 0x4E):
		return r.memArg()
	}
	return fmt.Errorf("%w: opcode 0xfe %d at offset %d", ErrUnsupported, in.Sub, in.Start)
}

// Body is a function body from the code section.
type Body struct {
	// Locals is the encoded local declarations, count included.
	Locals []byte
	// Code is the instruction sequence, final end included.
	Code []byte
}

// Bodies decodes the code section into function bodies. The slices alias
// payload.
func Bodies(payload []byte) ([]Body, error) {
	if payload == nil {
		return nil, nil
	}
	r := NewReader(payload)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	if int(n) > r.Len() {
		return nil, fmt.Errorf("%w: code section claims %d bodies in %d bytes", ErrMalformed, n, r.Len())
	}
	out := make([]Body, n)
	for i := range out {
		size, err := r.U32()
		if err != nil {
			return nil, err
		}
		b, err := r.Next(int(size))
		if err != nil {
			return nil, fmt.Errorf("%w: body of func[%d]", err, i)
		}
		br := NewReader(b)
		groups, err := br.U32()
		if err != nil {
			return nil, err
		}
		for g := uint32(0); g < groups; g++ {
			if _, err := br.U32(); err != nil {
				return nil, err
			}
			if err := br.valType(); err != nil {
				return nil, fmt.Errorf("local of func[%d]: %w", i, err)
			}
		}
		out[i] = Body{Locals: b[:br.pos], Code: b[br.pos:]}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last function body", ErrMalformed, r.Len())
	}
	return out, nil
}

// AppendBody appends the encoding of a function body (size, locals, code).
func AppendBody(out []byte, locals, code []byte) []byte {
	out = AppendU32(out, uint32(len(locals)+len(code)))
	out = append(out, locals...)
	return append(out, code...)
}
