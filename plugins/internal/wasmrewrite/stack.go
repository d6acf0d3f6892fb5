package wasmrewrite

import (
	"fmt"
	"math"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// StackGlobal is the name under which a metered module exports its call
// stack budget: a mutable i32 global holding how much more call stack the
// guest may use, in StackUnit bytes. A compiled guest's call stack lives
// outside its linear memory, in memory the host allocates and grows on demand
// (wazero lets it reach 84 MB per call), so without this budget a deep
// recursion costs the host memory no memory limit sees.
//
// Meter makes every function subtract its frame's cost when it is entered,
// trapping with unreachable when the budget goes negative, and add it back
// when it returns: on return, return_call (before the callee is entered), a
// branch to the function's label and its end. A trap leaves the budget spent;
// the runtime recognises it by the negative global (Stack.Exhausted) and must
// not reuse the instance.
const StackGlobal = "imhook_stack"

// StackUnit is the size, in bytes, of one unit of the stack budget.
const StackUnit = 16

// DefaultStack is the budget, in bytes, a metered module starts with when
// MeterOptions.Stack is zero.
const DefaultStack = 8 << 20

// frameUnits is what one call of a function costs the stack budget: an
// estimate of its frame in wazero's compiled code, which holds the values
// the function keeps across calls (spilled registers), each in a slot of its
// own, and the arguments of the calls it makes. Measured on amd64
// (TestFrameEstimate): the smallest frame is 24 bytes, and frames grow by 8
// bytes per local kept across a call (16 for a v128) and by up to 4 bytes per
// byte of code (v128 values made by 4-byte instructions, kept across a call
// and passed to another). The estimate, 16 bytes per parameter or local, 8
// per byte of code and 16 more, covers those with a margin of 2 (1 for v128
// locals). A Go guest's frames (20-45 bytes measured: Go keeps its own stack
// in linear memory) are overestimated ten times more, the price of one rule
// for every module.
func frameUnits(params, locals uint64, code int) int64 {
	units := 1 + params + locals + uint64(code+1)/2
	return int64(min(units, math.MaxInt32/2))
}

// funcType is what Meter needs of a function type.
type funcType struct {
	params  uint32
	results []byte // value types
}

// vector returns a reader of section id's vector after its count, and the
// count, which it checks against the bytes left; a nil reader when the
// module has no such section.
func vector(m *wasmbin.Module, id byte) (*wasmbin.Reader, uint32, error) {
	data := m.Section(id)
	if data == nil {
		return nil, 0, nil
	}
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, 0, err
	}
	if int(n) > r.Len() {
		return nil, 0, fmt.Errorf("%w: section[%d] claims %d entries in %d bytes", ErrMalformed, id, n, r.Len())
	}
	return r, n, nil
}

// funcTypes decodes the type section.
func funcTypes(m *wasmbin.Module) ([]funcType, error) {
	r, n, err := vector(m, wasmbin.SecType)
	if r == nil {
		return nil, err
	}
	types := make([]funcType, n)
	for k := range types {
		form, err := r.Byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("%w: type[%d] of form %#x", ErrUnsupported, k, form)
		}
		params, err := r.U32()
		if err != nil {
			return nil, err
		}
		if _, err := r.Next(int(params)); err != nil {
			return nil, err
		}
		results, err := r.U32()
		if err != nil {
			return nil, err
		}
		res, err := r.Next(int(results))
		if err != nil {
			return nil, err
		}
		types[k] = funcType{params: params, results: res}
	}
	return types, nil
}

// funcTypeIndices decodes the function section: the type of each defined
// function.
func funcTypeIndices(m *wasmbin.Module, types int) ([]uint32, error) {
	r, n, err := vector(m, wasmbin.SecFunction)
	if r == nil {
		return nil, err
	}
	idx := make([]uint32, n)
	for k := range idx {
		if idx[k], err = r.U32(); err != nil {
			return nil, err
		}
		if int(idx[k]) >= types {
			return nil, fmt.Errorf("%w: func[%d] has type[%d] of %d", ErrMalformed, k, idx[k], types)
		}
	}
	return idx, nil
}

// localCount sums a body's local declarations.
func localCount(locals []byte) (uint64, error) {
	r := wasmbin.NewReader(locals)
	groups, err := r.U32()
	if err != nil {
		return 0, err
	}
	var n uint64
	for range groups {
		c, err := r.U32()
		if err != nil {
			return 0, err
		}
		n += uint64(c)
		if _, err := r.Byte(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// wrapTypes allocates the block types of the blocks Meter wraps function
// bodies in, which have the function's results: the empty type, one value
// type, or the index of a type () -> results appended after the module's.
type wrapTypes struct {
	next    uint32 // the index the next appended type gets
	results []string
}

func (w *wrapTypes) blockType(results []byte) []byte {
	switch len(results) {
	case 0:
		return []byte{wasmbin.BlockEmpty}
	case 1:
		return results
	}
	for k, r := range w.results {
		if r == string(results) {
			return wasmbin.AppendS64(nil, int64(w.next)+int64(k))
		}
	}
	w.results = append(w.results, string(results))
	return wasmbin.AppendS64(nil, int64(w.next)+int64(len(w.results)-1))
}

// encode returns the appended types as entries of the type section.
func (w *wrapTypes) encode() []byte {
	var out []byte
	for _, r := range w.results {
		out = append(out, 0x60, 0x00)
		out = wasmbin.AppendU32(out, uint32(len(r)))
		out = append(out, r...)
	}
	return out
}

// appendStackEnter appends: stack -= units; if stack < 0 { unreachable }.
func appendStackEnter(out []byte, stack uint32, units int64) []byte {
	out = appendStackMove(out, stack, opI32Sub, units)
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, stack)
	return append(out, wasmbin.OpI32Const, 0x00, opI32LtS,
		wasmbin.OpIf, wasmbin.BlockEmpty, wasmbin.OpUnreachable, wasmbin.OpEnd)
}

// appendStackLeave appends: stack += units.
func appendStackLeave(out []byte, stack uint32, units int64) []byte {
	return appendStackMove(out, stack, opI32Add, units)
}

// appendStackMove appends: stack = stack <op> units.
func appendStackMove(out []byte, stack uint32, op byte, units int64) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, stack)
	out = append(out, wasmbin.OpI32Const)
	out = wasmbin.AppendS64(out, units)
	out = append(out, op, wasmbin.OpGlobalSet)
	return wasmbin.AppendU32(out, stack)
}

const (
	opI32LtS byte = 0x48
	opI32Add byte = 0x6A
	opI32Sub byte = 0x6B
)

// Stack is the handle a runtime keeps per instance of a metered module to
// set and read its call stack budget (StackGlobal), like Fuel.
type Stack struct {
	g api.MutableGlobal
}

// NewStack returns the Stack of an instance of a module rewritten by Meter.
//
// # Errors
//
// The module does not export StackGlobal as a mutable i32 global: it was not
// metered, or by an older Meter.
func NewStack(m api.Module) (Stack, error) {
	g, ok := m.ExportedGlobal(StackGlobal).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI32 {
		return Stack{}, fmt.Errorf("module[%s] is not metered: it does not export mutable i32 global[%s]", m.Name(), StackGlobal)
	}
	return Stack{g: g}, nil
}

// Set sets the budget to bytes of estimated call stack, rounded down to
// StackUnit and capped at what the global holds.
func (s Stack) Set(bytes uint64) {
	s.g.Set(uint64(min(bytes/StackUnit, math.MaxInt32)))
}

// Remaining returns the budget left, in bytes; negative once a call went
// deeper than the budget and trapped.
func (s Stack) Remaining() int64 { return int64(int32(s.g.Get())) * StackUnit }

// Exhausted reports whether a call that returned callErr was stopped because
// it went deeper than the budget: the call failed and the budget is
// negative. A guest cannot fake it: only the injected code writes the global.
func (s Stack) Exhausted(callErr error) bool {
	return callErr != nil && s.Remaining() < 0
}
