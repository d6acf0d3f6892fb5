// Package wasmrewrite rewrites uploaded WebAssembly modules before they are
// compiled: Meter injects an instruction budget ("fuel") so that a runaway
// guest is stopped without wazero's costly WithCloseOnContextDone, and comes
// back to the host (an imported refuel function) each time a slice of its
// budget is spent; MergeDataSegments folds the tens of thousands of data
// segments Go emits into a few, which halves instantiation time.
//
// Both run once per module content at upload, and both are deterministic: the
// same input bytes and options give the same output bytes, so the result can
// be cached under the input's content hash.
//
// The runtime side (SetFuel, FuelUsed, IsOutOfFuel, Fuel, Budget) needs only
// wazero's api package; the runtime provides MeterModule.RefuelFunc itself. docs/metering.md explains the cost model and how the runtime
// uses it.
package wasmrewrite

import (
	"fmt"
	"math"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// FuelGlobal is the name under which a metered module exports its fuel: a
// mutable i64 global holding what is left of the current slice of the budget,
// in instructions. The host sets it before a call and reads it after; the
// guest calls RefuelFunc when a check finds it negative.
const FuelGlobal = "imhook_fuel"

// MeterModule and RefuelFunc name the function a metered module imports, of
// type () -> (): the guest calls it at a function entry or loop header that
// finds its fuel negative, and continues when it returns. The host refills
// the fuel there (Budget.Refill) or stops the guest by panicking. Every
// runtime that instantiates a metered module must provide it. The module
// name is reserved: Meter refuses a module that already imports anything
// from it.
const (
	MeterModule = "imhook_meter"
	RefuelFunc  = "refuel"
)

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
// StackGlobal, a mutable i32 that bounds how deep calls nest, and imports
// RefuelFunc from MeterModule. Each function body is wrapped in a block that
// takes the function's frame from the stack budget on entry and gives it back
// on every way out. Each straight-line segment of code (from a function
// entry, a loop header, an if or else arm, or a join point after a
// branch-targeted block) subtracts its static cost when entered: one per
// instruction, more for bulk memory and table operations. Function entries
// and loop headers, which every cycle of execution passes, also call
// RefuelFunc when the fuel is negative, so the host can hand out the budget
// in slices and get control back at the end of each. The count is an upper
// bound on the instructions executed: code after a branch is charged even
// when the branch skips it, never the other way around.
//
// The import is appended after the module's own imports, so every defined
// function's index grows by one: calls, tail calls, ref.func, exports, the
// start function, element segments, global initialisers and the name
// section's function, local and label names are renumbered. Types, globals,
// tables, memories and segments keep their indices; the new types (refuel's,
// the wrapping blocks', the helpers'), functions and the two globals are
// appended after the existing ones. docs/metering.md has the details.
//
// Meter is deterministic: the same input bytes and options give the same
// output bytes.
//
// # Errors
//
//   - ErrMalformed: wasm is not a well-formed module, or names a function or
//     global past its own.
//   - ErrUnsupported: the module uses an instruction outside wasm 2.0, SIMD,
//     threads and tail calls, a 64-bit memory, already exports FuelGlobal
//     or already imports from MeterModule.
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
	imports, err := m.Imports()
	if err != nil {
		return nil, err
	}
	for _, im := range imports {
		if im.Module == MeterModule {
			return nil, fmt.Errorf("%w: module already imports %s.%s (metered twice?)", ErrUnsupported, MeterModule, im.Name)
		}
	}
	counts, err := m.Count()
	if err != nil {
		return nil, err
	}
	if err := checkTypeIndices(m, imports, counts.Types); err != nil {
		return nil, err
	}
	fuel := counts.Globals // the indices our appended globals get
	stack := fuel + 1
	// The refuel import follows the module's imported functions; every
	// defined function moves up by one (renumber.go).
	fn := funcMap{refuel: counts.ImportedFuncs, funcs: counts.Funcs}

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
	wrap := wrapTypes{next: counts.Types + 1} // after refuel's type
	// The helpers that charge for a size operand are appended after the
	// module's own functions, and only when some code needs them.
	h := helpers{next: counts.Funcs + 1}
	metered := make([]byte, 0, len(m.Section(wasmbin.SecCode))*5/4)
	var plan []charge
	for i, b := range bodies {
		plan, err = planBody(b.Code, &h, plan[:0], counts, fn)
		if err != nil {
			return nil, fmt.Errorf("func[%d]: %w", counts.ImportedFuncs+uint32(i), err)
		}
		locals, err := localCount(b.Locals)
		if err != nil {
			return nil, err
		}
		ft := types[typeOf[i]]
		f := stackFrame{stack: stack, units: frameUnits(uint64(ft.params), locals, len(b.Code)), block: wrap.blockType(ft.results)}
		metered = appendMetered(metered, b, plan, fuel, fn.refuel, f)
	}
	for _, shift := range h.shifts {
		metered = wasmbin.AppendBody(metered, []byte{0x00}, helperCode(fuel, fn.refuel, shift))
	}
	if err := renumber(m, exports, fn); err != nil {
		return nil, err
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

	// The type () -> () of the refuel import, then the wrapping blocks'
	// types (wrap.next is counts.Types+1), then the import itself.
	if err := appendVec(m, wasmbin.SecType, 1, []byte{0x60, 0x00, 0x00}); err != nil {
		return nil, err
	}
	if n := len(wrap.results); n > 0 {
		if err := appendVec(m, wasmbin.SecType, uint32(n), wrap.encode()); err != nil {
			return nil, err
		}
	}
	imp := wasmbin.AppendU32(nil, uint32(len(MeterModule)))
	imp = append(imp, MeterModule...)
	imp = wasmbin.AppendU32(imp, uint32(len(RefuelFunc)))
	imp = append(imp, RefuelFunc...)
	imp = append(imp, wasmbin.ExternFunc)
	imp = wasmbin.AppendU32(imp, counts.Types)
	if err := appendVec(m, wasmbin.SecImport, 1, imp); err != nil {
		return nil, err
	}

	if len(h.shifts) > 0 {
		// One type (i32) -> (i32) shared by all helpers, after refuel's and
		// the wrapping blocks' types.
		typeIdx := counts.Types + 1 + uint32(len(wrap.results))
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

// charge is one edit of a function body, at offset at of the original code.
type charge struct {
	kind int
	at   int
	// end > at: the edit replaces [at, end) (editIndex, editBytes, editLoop).
	end int
	// editCharge: subtract cost, then, with check, check the fuel: call
	// refuel, or with exit leave the wrapped loop to call it (br_if 1).
	cost  int64
	check bool
	exit  bool
	// editHelper: the helper to call; editIndex: the LEB128 u32 to write (a
	// function index or a branch depth); editBytes: the bytes to write.
	helper uint32
	index  uint32
	repl   []byte
	// editLoopEnd: the plan index of the wrapped loop's header charge.
	header int
}

// Kinds of edit.
const (
	editCharge  = iota // insert a charge, and a check when check is set
	editHelper         // insert a call of a size-operand helper
	editIndex          // replace an index immediate
	editBytes          // replace an immediate with repl
	editLoop           // replace "loop bt" by the four openers of a wrapped loop
	editLoopEnd        // insert, after a wrapped loop's end, the way out to refuel
	editLeave          // give the frame back to the stack budget: before a return or tail call
)

// helpers allocates the function indices of the size-operand helpers: one
// per price (a shift of the operand), in order of first use.
type helpers struct {
	next   uint32
	shifts []int
}

func (h *helpers) index(shift int) uint32 {
	for i, s := range h.shifts {
		if s == shift {
			return h.next + uint32(i)
		}
	}
	h.shifts = append(h.shifts, shift)
	return h.next + uint32(len(h.shifts)-1)
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
	// wrapped: a loop whose refuel call was moved out of it (wrapLoop); it
	// has four labels instead of one.
	wrapped bool
	header  int    // wrapped: the plan index of its header charge
	labels  uint32 // labels of this frame and every frame around it
}

// Wrapped loops. A loop header checks the fuel on every iteration. With the
// check written "if fuel < 0 { call refuel }" inside the loop, wazero's
// register allocator spills values that live across that call on the hot
// path too: a tight loop ran 1.7 times slower, Go code 5-10% (docs/
// metering.md, "Slices"). So a loop whose block type has no parameters
// becomes
//
//	block bt                ;; $done
//	  loop bt               ;; $outer: where execution resumes after refuel
//	    block               ;; $exit
//	      loop bt           ;; $inner: the original loop, its label
//	        fuel -= cost
//	        br_if $exit (fuel < 0)
//	        ...body...
//	      end
//	      br $done          ;; the loop's results
//	    end
//	    call $refuel
//	    fuel += cost        ;; the header is charged again when re-entered
//	    br $outer
//	  end
//	end
//
// and the call is off the loop's path. Branches from inside to labels
// outside it pass three more labels. The header's cost is handed back before
// re-entering, after refuel: refuel sees the same fuel, at the same check,
// as an inline call would, and the count is the same. A loop whose block type
// is a type index (it may take parameters, which the exit would have to
// carry) keeps the inline call.
const wrappedLabels = 4

// wrapLoop reports whether the loop whose block type is bt is wrapped: its
// type is empty or a single value type.
func wrapLoop(bt []byte) bool { return simpleBlockType(bt) }

// simpleBlockType reports whether a block type is empty or one value type,
// rather than a type index.
func simpleBlockType(bt []byte) bool {
	if len(bt) != 1 {
		return false
	}
	switch bt[0] {
	case wasmbin.BlockEmpty, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F:
		return true
	}
	return false
}

// planBody decodes one function's instructions and returns where to charge
// and how much, in increasing offset order, with the other edits.
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
// Only function entries and loop headers check the fuel and call refuel
// (loops from outside themselves, see wrapLoop): every cycle of execution
// passes through one of them, so a guest overdraws by at most the code
// between two checks. The other segments only subtract, which costs 4
// instructions instead of 10.
//
// The count is an upper bound: code after a br_if, br_table, br or return in
// the same segment is charged even when a branch skips it, a bounded amount
// per segment entry.
//
// The index of every call, return_call and ref.func to a defined function is
// replaced by its new one (fn), the refuel import having moved them up, and
// the depth of every branch that leaves a wrapped loop is increased.
//
// It also refuses, as malformed, a global, function or type index past the
// module's own (counts, the original numbering): such a module is invalid,
// but the global, functions and types Meter adds would make it valid, and
// its code could then refill its own fuel.
func planBody(code []byte, h *helpers, plan []charge, counts wasmbin.Counts, fn funcMap) ([]charge, error) {
	r := wasmbin.NewReader(code)
	plan = append(plan, charge{kind: editCharge, at: 0, check: true})
	cur := 0
	var stack []frame
	wrapped := 0 // wrapped loops on the stack
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
	// relabel returns the depth of a branch to label depth in the rewritten
	// code: the labels of the frames it leaves.
	relabel := func(depth uint32) uint32 {
		if wrapped == 0 {
			return depth
		}
		inner := stack[len(stack)-1].labels
		if int(depth) == len(stack) {
			return inner
		}
		return inner - stack[len(stack)-1-int(depth)].labels
	}
	push := func(f frame, width uint32) {
		f.labels = width
		if len(stack) > 0 {
			f.labels += stack[len(stack)-1].labels
		}
		stack = append(stack, f)
	}
	for {
		in, err := r.Instr()
		if err != nil {
			return nil, err
		}
		switch in.Op {
		case wasmbin.OpReturn, wasmbin.OpReturnCall, wasmbin.OpReturnCallIndirect:
			// Before the return_call's index edit: the plan is in offset order.
			plan = append(plan, charge{kind: editLeave, at: in.Start})
		}
		switch {
		case (in.Op == wasmbin.OpGlobalGet || in.Op == wasmbin.OpGlobalSet) && in.Index >= counts.Globals:
			return nil, fmt.Errorf("%w: global[%d] is past the module's %d globals", ErrMalformed, in.Index, counts.Globals)
		case (in.Op == wasmbin.OpCallIndirect || in.Op == wasmbin.OpReturnCallIndirect) && in.Index >= counts.Types:
			return nil, fmt.Errorf("%w: type[%d] is past the module's %d types", ErrMalformed, in.Index, counts.Types)
		case (in.Op == wasmbin.OpBlock || in.Op == wasmbin.OpLoop || in.Op == wasmbin.OpIf) && !blockTypeIn(code[in.Start+1:in.End], counts.Types):
			return nil, fmt.Errorf("%w: block type at offset %d names a type past the module's %d", ErrMalformed, in.Start, counts.Types)
		case in.Op == wasmbin.OpCall || in.Op == wasmbin.OpReturnCall || in.Op == opRefFunc:
			if in.Index >= counts.Funcs {
				return nil, fmt.Errorf("%w: func[%d] is past the module's %d functions", ErrMalformed, in.Index, counts.Funcs)
			}
			if in.Index >= fn.refuel {
				plan = append(plan, charge{kind: editIndex, at: in.IndexStart, end: in.IndexEnd, index: fn.of(in.Index)})
			}
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
			push(frame{kind: frameBlock, outer: cur}, 1)
		case wasmbin.OpLoop:
			f := frame{kind: frameLoop, outer: cur}
			width := uint32(1)
			if wrapLoop(code[in.Start+1 : in.End]) {
				plan = append(plan, charge{kind: editLoop, at: in.Start, end: in.End})
				f.wrapped, width = true, wrappedLabels
				wrapped++
			}
			plan = append(plan, charge{kind: editCharge, at: in.End, check: true, exit: f.wrapped})
			cur = len(plan) - 1
			f.header = cur
			push(f, width)
		case wasmbin.OpIf:
			push(frame{kind: frameIf, outer: cur}, 1)
			plan = append(plan, charge{kind: editCharge, at: in.End})
			cur = len(plan) - 1
		case wasmbin.OpElse:
			if len(stack) == 0 || stack[len(stack)-1].kind != frameIf {
				return nil, fmt.Errorf("%w: else without if at offset %d", ErrMalformed, in.Start)
			}
			plan = append(plan, charge{kind: editCharge, at: in.End})
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
			if f.wrapped {
				plan = append(plan, charge{kind: editLoopEnd, at: in.End, header: f.header})
				wrapped--
			}
			switch {
			case f.targeted && f.kind != frameLoop:
				plan = append(plan, charge{kind: editCharge, at: in.End})
				cur = len(plan) - 1
			case f.kind != frameBlock:
				cur = f.outer
			}
		case wasmbin.OpBr, wasmbin.OpBrIf:
			if err := target(in.Index); err != nil {
				return nil, err
			}
			if d := relabel(in.Index); d != in.Index {
				plan = append(plan, charge{kind: editIndex, at: in.IndexStart, end: in.IndexEnd, index: d})
			}
		case wasmbin.OpBrTable:
			lr := wasmbin.NewReader(code[in.Start+1 : in.End])
			n, _ := lr.U32()
			var repl []byte
			if wrapped > 0 {
				repl = wasmbin.AppendU32(make([]byte, 0, in.End-in.Start+8), n)
			}
			for i := uint32(0); i <= n; i++ { // the labels and the default
				l, _ := lr.U32() // already decoded once by Instr
				if err := target(l); err != nil {
					return nil, err
				}
				if repl != nil {
					repl = wasmbin.AppendU32(repl, relabel(l))
				}
			}
			if repl != nil {
				plan = append(plan, charge{kind: editBytes, at: in.Start + 1, end: in.End, repl: repl})
			}
		case wasmbin.OpMemoryGrow:
			plan[cur].cost += costMemoryGrow
		case wasmbin.OpPrefixFC:
			switch in.Sub {
			case wasmbin.FCMemoryInit, wasmbin.FCMemoryCopy, wasmbin.FCMemoryFill:
				plan = append(plan, charge{kind: editHelper, at: in.Start, helper: h.index(bulkByteShift)})
			case wasmbin.FCTableInit, wasmbin.FCTableCopy, wasmbin.FCTableGrow, wasmbin.FCTableFill:
				plan = append(plan, charge{kind: editHelper, at: in.Start, helper: h.index(0)})
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

// appendMetered appends the body b with the edits of plan applied, in a
// block that takes the frame from the stack budget on entry and gives it back
// at its end, which is where a branch to the function's label now lands.
func appendMetered(out []byte, b wasmbin.Body, plan []charge, fuel, refuel uint32, f stackFrame) []byte {
	code := make([]byte, 0, len(b.Code)+len(plan)*20+64)
	code = appendStackEnter(code, f.stack, f.units)
	code = append(code, wasmbin.OpBlock)
	code = append(code, f.block...)
	prev := 0
	for _, c := range plan {
		code = append(code, b.Code[prev:c.at]...)
		prev = c.at
		switch c.kind {
		case editLeave:
			code = appendStackLeave(code, f.stack, f.units)
		case editIndex:
			code = wasmbin.AppendU32(code, c.index)
			prev = c.end
		case editBytes:
			code = append(code, c.repl...)
			prev = c.end
		case editLoop:
			bt := b.Code[c.at+1 : c.end]
			code = append(code, wasmbin.OpBlock)
			code = append(code, bt...)
			code = append(code, wasmbin.OpLoop)
			code = append(code, bt...)
			code = append(code, wasmbin.OpBlock, wasmbin.BlockEmpty, wasmbin.OpLoop)
			code = append(code, bt...)
			prev = c.end
		case editLoopEnd:
			code = appendLoopEnd(code, fuel, refuel, plan[c.header].cost)
		case editHelper:
			code = append(code, wasmbin.OpCall)
			code = wasmbin.AppendU32(code, c.helper)
		case editCharge:
			if c.cost != 0 {
				code = appendCharge(code, fuel, refuel, c.cost, c.check, c.exit)
			}
		}
	}
	code = append(code, b.Code[prev:]...) // ends with the block's end
	code = appendStackLeave(code, f.stack, f.units)
	code = append(code, wasmbin.OpEnd)
	return wasmbin.AppendBody(out, b.Locals, code)
}

// appendCharge appends: fuel -= cost, followed when check is set by
// if fuel < 0 { call refuel }, or with exit by br_if 1 (fuel < 0), which
// leaves a wrapped loop for its way out to refuel (wrapLoop).
func appendCharge(out []byte, fuel, refuel uint32, cost int64, check, exit bool) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpI64Const)
	out = wasmbin.AppendS64(out, cost)
	out = append(out, wasmbin.OpI64Sub, wasmbin.OpGlobalSet)
	out = wasmbin.AppendU32(out, fuel)
	switch {
	case !check:
		return out
	case exit:
		out = append(out, wasmbin.OpGlobalGet)
		out = wasmbin.AppendU32(out, fuel)
		return append(out, wasmbin.OpI64Const, 0x00, wasmbin.OpI64LtS, wasmbin.OpBrIf, 0x01)
	}
	return appendCheck(out, fuel, refuel)
}

// appendLoopEnd appends what follows the end of a wrapped loop's original
// body (wrapLoop): br $done, the end of $exit, the call of refuel, the
// header's cost handed back, br $outer, and the ends of $outer and $done.
func appendLoopEnd(out []byte, fuel, refuel uint32, cost int64) []byte {
	out = append(out, wasmbin.OpBr, 0x02, wasmbin.OpEnd, wasmbin.OpCall)
	out = wasmbin.AppendU32(out, refuel)
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpI64Const)
	out = wasmbin.AppendS64(out, cost)
	out = append(out, opI64Add, wasmbin.OpGlobalSet)
	out = wasmbin.AppendU32(out, fuel)
	return append(out, wasmbin.OpBr, 0x00, wasmbin.OpEnd, wasmbin.OpEnd)
}

// appendCheck appends: if fuel < 0 { call refuel }. The host refills the
// fuel, or stops the guest by panicking; the guest continues either way
// only with fuel the host gave it.
func appendCheck(out []byte, fuel, refuel uint32) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpI64Const, 0x00, wasmbin.OpI64LtS,
		wasmbin.OpIf, wasmbin.BlockEmpty, wasmbin.OpCall)
	out = wasmbin.AppendU32(out, refuel)
	return append(out, wasmbin.OpEnd)
}

// helperCode is the body of a size-operand helper, (n i32) -> (i32):
// fuel -= n>>shift; if fuel < 0 { call refuel }; return n.
// The instruction itself is charged 1 with the code around it.
func helperCode(fuel, refuel uint32, shift int) []byte {
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
	out = appendCheck(out, fuel, refuel)
	return append(out, wasmbin.OpLocalGet, 0x00, wasmbin.OpEnd)
}

// opI64Add is i64.add.
const opI64Add byte = 0x7C

// opRefFunc is ref.func, whose immediate is a function index.
const opRefFunc byte = 0xD2
