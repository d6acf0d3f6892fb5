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
}

// Meter returns a copy of the module with fuel accounting injected.
//
// The rewritten module defines and exports FuelGlobal, a mutable i64, and
// imports RefuelFunc from MeterModule. Each straight-line segment of code
// (from a function entry, a loop header, an if or else arm, or a join point
// after a branch-targeted block) subtracts its static cost when entered: one
// per instruction, more for bulk memory and table operations. Function
// entries and loop headers, which every cycle of execution passes, also call
// RefuelFunc when the fuel is negative, so the host can hand out the budget
// in slices and get control back at the end of each. The count is an upper
// bound on the instructions executed: code after a branch is charged even
// when the branch skips it, never the other way around.
//
// The import is appended after the module's own imports, so every defined
// function's index grows by one: calls, tail calls, ref.func, exports, the
// start function, element segments, global initialisers and the name
// section's function, local and label names are renumbered. Types, globals,
// tables, memories and segments keep their indices; the new types,
// functions and the global are appended after the existing ones.
// docs/metering.md has the details.
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
	fuel := counts.Globals // the index our appended global gets
	// The refuel import follows the module's imported functions; every
	// defined function moves up by one (renumber.go).
	fn := funcMap{refuel: counts.ImportedFuncs, funcs: counts.Funcs}

	bodies, err := wasmbin.Bodies(m.Section(wasmbin.SecCode))
	if err != nil {
		return nil, err
	}
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
		metered = appendMetered(metered, b, plan, fuel, fn.refuel)
	}
	for _, shift := range h.shifts {
		metered = wasmbin.AppendBody(metered, []byte{0x00}, helperCode(fuel, fn.refuel, shift))
	}
	if err := renumber(m, fn); err != nil {
		return nil, err
	}

	start := int64(min(opt.StartFuel, math.MaxInt64))
	if start == 0 {
		start = DefaultStartFuel
	}
	global := []byte{0x7E, 0x01, wasmbin.OpI64Const} // i64, mutable, i64.const start
	global = wasmbin.AppendS64(global, start)
	global = append(global, wasmbin.OpEnd)
	if err := appendVec(m, wasmbin.SecGlobal, 1, global); err != nil {
		return nil, err
	}
	export := wasmbin.AppendU32(nil, uint32(len(FuelGlobal)))
	export = append(export, FuelGlobal...)
	export = append(export, wasmbin.ExternGlobal)
	export = wasmbin.AppendU32(export, fuel)
	if err := appendVec(m, wasmbin.SecExport, 1, export); err != nil {
		return nil, err
	}

	// The type () -> () of the refuel import, then the import itself.
	if err := appendVec(m, wasmbin.SecType, 1, []byte{0x60, 0x00, 0x00}); err != nil {
		return nil, err
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
		// One type (i32) -> (i32) shared by all helpers.
		typeIdx := counts.Types + 1
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

// charge is one edit of a function body at offset at: before the byte at at,
// either subtract the static cost (helper < 0) or call helper on the size
// operand on top of the stack; or, when end > at, replace the function index
// encoded in [at, end) by index.
type charge struct {
	at     int
	cost   int64
	helper int64
	check  bool // call refuel here if the fuel is negative
	end    int
	index  uint32
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
// Only function entries and loop headers check the fuel and call refuel:
// every cycle of execution passes through one of them, so a guest overdraws
// by at most the code between two checks. The other segments only subtract,
// which costs 4 instructions instead of 10.
//
// The count is an upper bound: code after a br_if, br_table, br or return in
// the same segment is charged even when a branch skips it, a bounded amount
// per segment entry.
//
// The index of every call, return_call and ref.func to a defined function is
// replaced by its new one (fn), the refuel import having moved them up.
//
// It also refuses, as malformed, a global or function index past the
// module's own (counts, the original numbering): such a module is invalid,
// but the global and the functions Meter adds would make it valid, and its
// code could then refill its own fuel.
func planBody(code []byte, h *helpers, plan []charge, counts wasmbin.Counts, fn funcMap) ([]charge, error) {
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
		case in.Op == wasmbin.OpCall || in.Op == wasmbin.OpReturnCall || in.Op == opRefFunc:
			if in.Index >= counts.Funcs {
				return nil, fmt.Errorf("%w: func[%d] is past the module's %d functions", ErrMalformed, in.Index, counts.Funcs)
			}
			if in.Index >= fn.refuel {
				plan = append(plan, charge{at: in.IndexStart, end: in.IndexEnd, index: fn.of(in.Index), helper: -1})
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

// appendMetered appends the body b with the edits of plan applied.
func appendMetered(out []byte, b wasmbin.Body, plan []charge, fuel, refuel uint32) []byte {
	var buf [64]byte
	code := make([]byte, 0, len(b.Code)+len(plan)*20)
	prev := 0
	for _, c := range plan {
		code = append(code, b.Code[prev:c.at]...)
		prev = c.at
		if c.end > c.at {
			code = wasmbin.AppendU32(code, c.index)
			prev = c.end
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
		code = append(code, appendCharge(buf[:0], fuel, refuel, c.cost, c.check)...)
	}
	code = append(code, b.Code[prev:]...)
	return wasmbin.AppendBody(out, b.Locals, code)
}

// appendCharge appends: fuel -= cost, followed when check is set by
// if fuel < 0 { call refuel }.
func appendCharge(out []byte, fuel, refuel uint32, cost int64, check bool) []byte {
	out = append(out, wasmbin.OpGlobalGet)
	out = wasmbin.AppendU32(out, fuel)
	out = append(out, wasmbin.OpI64Const)
	out = wasmbin.AppendS64(out, cost)
	out = append(out, wasmbin.OpI64Sub, wasmbin.OpGlobalSet)
	out = wasmbin.AppendU32(out, fuel)
	if !check {
		return out
	}
	return appendCheck(out, fuel, refuel)
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

// opRefFunc is ref.func, whose immediate is a function index.
const opRefFunc byte = 0xD2
