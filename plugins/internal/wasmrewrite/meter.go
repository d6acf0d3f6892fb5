// Package wasmrewrite rewrites uploaded WebAssembly modules before they are
// compiled: Meter injects an instruction budget ("fuel") so that a runaway
// guest traps without wazero's costly WithCloseOnContextDone, and
// MergeDataSegments folds the tens of thousands of data segments Go emits into
// a few, which halves instantiation time.
//
// Both run once per module content at upload, and both are deterministic: the
// same input bytes and options give the same output bytes, so the result can
// be cached under the input's content hash.
//
// The runtime side (SetFuel, FuelUsed, IsOutOfFuel, Fuel) needs only wazero's
// api package. docs/metering.md explains the cost model and how the runtime
// uses it.
package wasmrewrite

import (
	"fmt"
	"math"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// FuelGlobal is the name under which a metered module exports its fuel: a
// mutable i64 global holding the remaining budget in instructions. The host
// sets it before a call and reads it after; it is negative only after the
// guest ran out of fuel and trapped.
const FuelGlobal = "imhook_fuel"

// ErrUnsupported reports a module the rewriter cannot handle, with the feature
// or opcode named in the error text. The module may still be valid: a runtime
// can run it unmetered under WithCloseOnContextDone instead, and should say so.
var ErrUnsupported = wasmbin.ErrUnsupported

// ErrMalformed reports bytes that are not a well-formed WebAssembly module.
var ErrMalformed = wasmbin.ErrMalformed

// DefaultStartFuel is the budget a metered module starts with when
// MeterOptions.StartFuel is zero. It pays for the start function and for any
// call made before the host first sets the fuel, such as a Go guest's
// _initialize when run by wazero's WithStartFunctions. A Go guest's
// _initialize uses a few hundred thousand instructions (docs/metering.md).
const DefaultStartFuel = 100_000_000

// Costs, in instructions, of the operations that do more than one step of
// work. The rationale for each is in docs/metering.md.
const (
	// costMemoryGrow is charged on top of 1 for memory.grow. Total growth is
	// bounded by the instance's memory limit, not by how often it is asked
	// for, so a fixed cost is enough.
	costMemoryGrow = 1000
	// bulkByteShift sets the price of memory.copy, memory.fill and memory.init:
	// one instruction per 1<<bulkByteShift bytes, on top of the 1 every
	// instruction costs.
	bulkByteShift = 4
)

// MeterOptions tunes Meter. The zero value is ready to use.
type MeterOptions struct {
	// StartFuel is the initial value of the fuel global, the budget for
	// everything that runs before the host first calls SetFuel: the module's
	// start function and, when the runtime lets wazero call it, _initialize.
	// Zero means DefaultStartFuel. Values above math.MaxInt64 are capped.
	StartFuel uint64
	// Stack is the initial call stack budget (StackGlobal), in bytes, for
	// the same code. Zero means DefaultStack.
	Stack uint64
}

// Meter returns a copy of the module with fuel accounting injected.
//
// The rewritten module defines and exports FuelGlobal, a mutable i64, and
// StackGlobal, a mutable i32 that bounds how deep calls nest: each function
// body is wrapped in a block that takes the function's frame from it on
// entry and gives it back on every way out. Each
// straight-line segment of code (from a function entry, a loop header, an if
// or else arm, or a join point after a branch-targeted block) subtracts its
// static cost when entered: one per instruction, more for bulk memory and
// table operations. Function entries and loop headers, which every cycle of
// execution passes, also trap with unreachable when the fuel is negative.
// The count is an upper bound on the instructions executed: code after a
// branch is charged even when the branch skips it, never the other way
// around. Function indices, types and exports of the original module are
// unchanged; new types, functions and the global are appended after the
// existing ones. docs/metering.md has the details.
//
// Meter is deterministic: the same input bytes and options give the same
// output bytes.
//
// # Errors
//
//   - ErrMalformed: wasm is not a well-formed module.
//   - ErrUnsupported: the module uses an instruction outside wasm 2.0, SIMD,
//     threads and tail calls, a 64-bit memory, or already exports FuelGlobal.
func Meter(wasm []byte, opt MeterOptions) ([]byte, error) {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, err
	}
	if mem64, err := m.Memory64(); err != nil {
		return nil, err
	} else if mem64 {
		return nil, fmt.Errorf("%w: 64-bit memory", ErrUnsupported)
	}
	exports, err := m.Exports()
	if err != nil {
		return nil, err
	}
	for _, e := range exports {
		if e.Name == FuelGlobal {
			return nil, fmt.Errorf("%w: module already exports %q (metered twice?)", ErrUnsupported, FuelGlobal)
		}
	}
	counts, err := m.Count()
	if err != nil {
		return nil, err
	}
	fuel := counts.Globals // the indices our appended globals get
	stack := fuel + 1

	bodies, err := wasmbin.Bodies(m.Section(wasmbin.SecCode))
	if err != nil {
		return nil, err
	}
	types, err := funcTypes(m)
	if err != nil {
		return nil, err
	}
	typeOf, err := funcTypeIndices(m, len(types))
	if err != nil {
		return nil, err
	}
	if len(typeOf) != len(bodies) {
		return nil, fmt.Errorf("%w: %d functions declared, %d bodies", ErrMalformed, len(typeOf), len(bodies))
	}
	wrap := wrapTypes{next: counts.Types}
	// The helpers that charge for a size operand are appended after the
	// module's own functions, and only when some code needs them.
	h := helpers{next: counts.Funcs}
	metered := make([]byte, 0, len(m.Section(wasmbin.SecCode))*5/4)
	var plan []charge
	for i, b := range bodies {
		plan, err = planBody(b.Code, &h, plan[:0], counts)
		if err != nil {
			return nil, fmt.Errorf("func[%d]: %w", counts.ImportedFuncs+uint32(i), err)
		}
		locals, err := localCount(b.Locals)
		if err != nil {
			return nil, err
		}
		ft := types[typeOf[i]]
		f := stackFrame{stack: stack, units: frameUnits(uint64(ft.params), locals, len(b.Code)), block: wrap.blockType(ft.results)}
		metered = appendMetered(metered, b, plan, fuel, f)
	}
	for _, shift := range h.shifts {
		metered = wasmbin.AppendBody(metered, []byte{0x00}, helperCode(fuel, shift))
	}

	start := int64(min(opt.StartFuel, math.MaxInt64))
	if start == 0 {
		start = DefaultStartFuel
	}
	stackBytes := opt.Stack
	if stackBytes == 0 {
		stackBytes = DefaultStack
	}
	global := []byte{0x7E, 0x01, wasmbin.OpI64Const} // i64, mutable, i64.const start
	global = wasmbin.AppendS64(global, start)
	global = append(global, wasmbin.OpEnd)
	global = append(global, 0x7F, 0x01, wasmbin.OpI32Const) // i32, mutable, i32.const stack
	global = wasmbin.AppendS64(global, int64(min(stackBytes/StackUnit, math.MaxInt32)))
	global = append(global, wasmbin.OpEnd)
	if err := appendVec(m, wasmbin.SecGlobal, 2, global); err != nil {
		return nil, err
	}
	var export []byte
	for _, g := range []struct {
		name  string
		index uint32
	}{{FuelGlobal, fuel}, {StackGlobal, stack}} {
		export = wasmbin.AppendU32(export, uint32(len(g.name)))
		export = append(export, g.name...)
		export = append(export, wasmbin.ExternGlobal)
		export = wasmbin.AppendU32(export, g.index)
	}
	if err := appendVec(m, wasmbin.SecExport, 2, export); err != nil {
		return nil, err
	}

	if n := len(wrap.results); n > 0 {
		if err := appendVec(m, wasmbin.SecType, uint32(n), wrap.encode()); err != nil {
			return nil, err
		}
	}
	if len(h.shifts) > 0 {
		// One type (i32) -> (i32) shared by all helpers, after the wrapping
		// blocks' types.
		typeIdx := counts.Types + uint32(len(wrap.results))
		if err := appendVec(m, wasmbin.SecType, 1, []byte{0x60, 0x01, 0x7F, 0x01, 0x7F}); err != nil {
			return nil, err
		}
		var funcs []byte
		for range h.shifts {
			funcs = wasmbin.AppendU32(funcs, typeIdx)
		}
		if err := appendVec(m, wasmbin.SecFunction, uint32(len(h.shifts)), funcs); err != nil {
			return nil, err
		}
	}
	if n := len(bodies) + len(h.shifts); n > 0 {
		code := wasmbin.AppendU32(make([]byte, 0, 5+len(metered)), uint32(n))
		m.SetSection(wasmbin.SecCode, append(code, metered...))
	}
	return m.Encode(), nil
}

// appendVec appends entries to the vector section id, creating it if needed.
func appendVec(m *wasmbin.Module, id byte, n uint32, entries []byte) error {
	data, err := wasmbin.AppendToVec(m.Section(id), n, entries)
	if err != nil {
		return fmt.Errorf("section[%d]: %w", id, err)
	}
	m.SetSection(id, data)
	return nil
}

// charge is one insertion into a function body: before the byte at offset at,
// either subtract the static cost (helper < 0) or call helper on the size
// operand on top of the stack.
type charge struct {
	at     int
	cost   int64
	helper int64
	check  bool // trap here if the fuel is negative
	leave  bool // give the frame back to the stack budget: a return or tail call
}

// helpers allocates the function indices of the size-operand helpers: one
// per price (a shift of the operand), in order of first use.
type helpers struct {
	next   uint32
	shifts []int
}

func (h *helpers) index(shift int) int64 {
	for i, s := range h.shifts {
		if s == shift {
			return int64(h.next) + int64(i)
		}
	}
	h.shifts = append(h.shifts, shift)
	return int64(h.next) + int64(len(h.shifts)-1)
}

// Control frame kinds for planBody.
const (
	frameBlock = iota
	frameLoop
	frameIf
)

type frame struct {
	kind     int
	outer    int  // the segment to resume after the frame's end
	targeted bool // a branch targets the frame's label
}

// planBody decodes one function's instructions and returns where to charge
// and how much, in increasing offset order.
//
// A segment is straight-line code entered only at its start. One starts at
// the function entry, after each loop (its header, where every back-edge
// lands), after each if and else, and after the end of each block or if that
// a branch targets (a join point). Each instruction is charged to the segment
// it is in, when the segment is entered. The code after the end of a loop, or
// of a block or if that no branch targets, is reached only from the code
// before it, so it stays in the segment that contains the opener: it runs at
// most once per entry of that segment.
//
// Only function entries and loop headers check the fuel and trap: every
// cycle of execution passes through one of them, so a guest overdraws by at
// most the code between two checks. The other segments only subtract, which
// costs 4 instructions instead of 10.
//
// The count is an upper bound: code after a br_if, br_table, br or return in
// the same segment is charged even when a branch skips it, a bounded amount
// per segment entry.
//
// It also refuses, as malformed, a global or function index past the
// module's own (counts): such a module is invalid, but the global and the
// helpers Meter appends would make it valid, and its code could then refill
// its own fuel.
func planBody(code []byte, h *helpers, plan []charge, counts wasmbin.Counts) ([]charge, error) {
	r := wasmbin.NewReader(code)
	plan = append(plan, charge{at: 0, helper: -1, check: true})
	cur := 0
	var stack []frame
	// straight is set while execution since the function entry has been
	// straight-line code with no call. If a loop header comes first, its
	// check makes the entry's redundant: every cycle still passes a check
	// before any call. Go functions all start this way.
	straight := true
	target := func(depth uint32) error {
		if int(depth) > len(stack) {
			return fmt.Errorf("%w: branch to label %d at depth %d", ErrMalformed, depth, len(stack))
		}
		if int(depth) < len(stack) { // depth len(stack) is the function itself
			stack[len(stack)-1-int(depth)].targeted = true
		}
		return nil
	}
	for {
		in, err := r.Instr()
		if err != nil {
			return nil, err
		}
		switch {
		case (in.Op == wasmbin.OpGlobalGet || in.Op == wasmbin.OpGlobalSet) && in.Index >= counts.Globals:
			return nil, fmt.Errorf("%w: global[%d] is past the module's %d globals", ErrMalformed, in.Index, counts.Globals)
		case (in.Op == wasmbin.OpCall || in.Op == wasmbin.OpReturnCall || in.Op == opRefFunc) && in.Index >= counts.Funcs:
			return nil, fmt.Errorf("%w: func[%d] is past the module's %d functions", ErrMalformed, in.Index, counts.Funcs)
		}
		plan[cur].cost++
		if straight && in.Op != wasmbin.OpBlock && !isPlain(in.Op) {
			if in.Op == wasmbin.OpLoop {
				plan[0].check = false
			}
			straight = false
		}
		switch in.Op {
		case wasmbin.OpBlock:
			stack = append(stack, frame{kind: frameBlock, outer: cur})
		case wasmbin.OpLoop, wasmbin.OpIf:
			kind := frameLoop
			if in.Op == wasmbin.OpIf {
				kind = frameIf
			}
			stack = append(stack, frame{kind: kind, outer: cur})
			plan = append(plan, charge{at: in.End, helper: -1, check: kind == frameLoop})
			cur = len(plan) - 1
		case wasmbin.OpElse:
			if len(stack) == 0 || stack[len(stack)-1].kind != frameIf {
				return nil, fmt.Errorf("%w: else without if at offset %d", ErrMalformed, in.Start)
			}
			plan = append(plan, charge{at: in.End, helper: -1})
			cur = len(plan) - 1
		case wasmbin.OpEnd:
			if len(stack) == 0 {
				if r.Len() != 0 {
					return nil, fmt.Errorf("%w: %d bytes after the function's end", ErrMalformed, r.Len())
				}
				return plan, nil
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			switch {
			case f.targeted && f.kind != frameLoop:
				plan = append(plan, charge{at: in.End, helper: -1})
				cur = len(plan) - 1
			case f.kind != frameBlock:
				cur = f.outer
			}
		case wasmbin.OpBr, wasmbin.OpBrIf:
			if err := target(in.Index); err != nil {
				return nil, err
			}
		case wasmbin.OpBrTable:
			lr := wasmbin.NewReader(code[in.Start+1 : in.End])
			n, _ := lr.U32()
			for i := uint32(0); i <= n; i++ { // the labels and the default
				l, _ := lr.U32() // already decoded once by Instr
				if err := target(l); err != nil {
					return nil, err
				}
			}
		case wasmbin.OpReturn, wasmbin.OpReturnCall, wasmbin.OpReturnCallIndirect:
			plan = append(plan, charge{at: in.Start, helper: -1, leave: true})
		case wasmbin.OpMemoryGrow:
			plan[cur].cost += costMemoryGrow
		case wasmbin.OpPrefixFC:
			switch in.Sub {
			case wasmbin.FCMemoryInit, wasmbin.FCMemoryCopy, wasmbin.FCMemoryFill:
				plan = append(plan, charge{at: in.Start, helper: h.index(bulkByteShift)})
			case wasmbin.FCTableInit, wasmbin.FCTableCopy, wasmbin.FCTableGrow, wasmbin.FCTableFill:
				plan = append(plan, charge{at: in.Start, helper: h.index(0)})
			}
		}
		if plan[cur].cost > math.MaxInt32 {
			return nil, fmt.Errorf("%w: straight-line code too long", ErrUnsupported)
		}
	}
}

// isPlain reports whether op is an instruction that neither branches nor
// calls: a local, global, memory or numeric operation.
func isPlain(op byte) bool {
	return op == 0x01 || op == 0x1A || op == 0x1B || op == 0x1C ||
		(op >= 0x20 && op <= 0x26) || (op >= 0x28 && op <= 0xC4)
}

// stackFrame is what appendMetered needs to account a function's frame:
// the stack global, the frame's cost in units, and the block type of the
// function's results.
type stackFrame struct {
	stack uint32
	units int64
	block []byte
}

// appendMetered appends the body b with the charges of plan inserted, in a
// block that takes the frame from the stack budget on entry and gives it back
// at its end, which is where a branch to the function's label now lands.
func appendMetered(out []byte, b wasmbin.Body, plan []charge, fuel uint32, f stackFrame) []byte {
	var buf [64]byte
	code := make([]byte, 0, len(b.Code)+len(plan)*20+64)
	code = appendStackEnter(code, f.stack, f.units)
	code = append(code, wasmbin.OpBlock)
	code = append(code, f.block...)
	prev := 0
	for _, c := range plan {
		code = append(code, b.Code[prev:c.at]...)
		prev = c.at
		if c.leave {
			code = appendStackLeave(code, f.stack, f.units)
			continue
		}
		if c.helper >= 0 {
			code = append(code, wasmbin.OpCall)
			code = wasmbin.AppendU32(code, uint32(c.helper))
			continue
		}
		if c.cost == 0 {
			continue
		}
		code = append(code, appendCharge(buf[:0], fuel, c.cost, c.check)...)
	}
	code = append(code, b.Code[prev:]...) // ends with the block's end
	code = appendStackLeave(code, f.stack, f.units)
	code = append(code, wasmbin.OpEnd)
	return wasmbin.AppendBody(out, b.Locals, code)
}

// appendCharge appends: fuel -= cost, followed when check is set by
// if fuel < 0 { unreachable }.
func appendCharge(out []byte, fuel uint32, cost int64, check bool) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpI64Const)
	out = wasmbin.AppendS64(out, cost)
	out = append(out, wasmbin.OpI64Sub, wasmbin.OpGlobalSet)
	out = wasmbin.AppendU32(out, fuel)
	if !check {
		return out
	}
	return appendCheck(out, fuel)
}

// appendCheck appends: if fuel < 0 { unreachable }.
func appendCheck(out []byte, fuel uint32) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	return append(out, wasmbin.OpI64Const, 0x00, wasmbin.OpI64LtS,
		wasmbin.OpIf, wasmbin.BlockEmpty, wasmbin.OpUnreachable, wasmbin.OpEnd)
}

// helperCode is the body of a size-operand helper, (n i32) -> (i32):
// fuel -= n>>shift; if fuel < 0 { unreachable }; return n.
// The instruction itself is charged 1 with the code around it.
func helperCode(fuel uint32, shift int) []byte {
	out := []byte{wasmbin.OpGlobalGet}
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpLocalGet, 0x00, wasmbin.OpI64ExtendI32U)
	if shift > 0 {
		out = append(out, wasmbin.OpI64Const)
		out = wasmbin.AppendS64(out, int64(shift))
		out = append(out, wasmbin.OpI64ShrU)
	}
	out = append(out, wasmbin.OpI64Sub, wasmbin.OpGlobalSet)
	out = wasmbin.AppendU32(out, fuel)
	out = appendCheck(out, fuel)
	return append(out, wasmbin.OpLocalGet, 0x00, wasmbin.OpEnd)
}

// opRefFunc is ref.func, whose immediate is a function index.
const opRefFunc byte = 0xD2
