// Package preinit starts instances of a module in the state its _initialize
// left the first one in, without running _initialize again: Wizer's idea,
// applied by the host to the module the sandbox compiled anyway.
//
// Rewrite exports every mutable global of a module at upload, so that the
// host can read and set them; this changes no code, and the rewritten module
// is what gets compiled (once). Capture records, for one freshly initialised
// instance, the bytes _initialize changed in linear memory (against the
// memory as instantiation left it: data segments applied, nothing run), the
// memory's size and the globals. Apply writes that into a new instance of
// the same compiled module, instantiated without running anything, which is
// then indistinguishable from one that ran _initialize itself, as far as
// wasm state goes: the caller carries the host's side (clocks, random
// source) across.
//
// Why not emit a module whose data segments are the snapshot, as Wizer does:
// wazero's compilation cache is keyed by the module's bytes, so a new module
// is a second compile at upload (a second or more of CPU for a Go guest),
// and each instance would still copy all of the module's data. A Go guest's
// _initialize changes a few kilobytes: applied on top of the data segments,
// the snapshot costs microseconds per instance and kilobytes per plugin.
package preinit

import (
	"errors"
	"fmt"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// GlobalExport names the export of a module's k-th mutable global (in the
// order of the global index space), and CountExport the immutable i32
// global holding how many there are. The names are reserved: Rewrite refuses
// a module that exports one already.
const (
	GlobalExport = "imhook_preinit_global."
	CountExport  = "imhook_preinit_globals"
)

// ErrUnsupported reports a module whose initialised state this package
// cannot capture: the error says which feature. Its instances must run
// _initialize themselves.
var ErrUnsupported = errors.New("cannot be pre-initialised")

// Opcodes that change state outside linear memory and globals.
const (
	opTableSet  = 0x26
	fcElemDrop  = 13
	valI32      = 0x7F
	valI64      = 0x7E
	valF32      = 0x7D
	valF64      = 0x7C
	mutableFlag = 1
)

// Rewrite returns a copy of wasm with every defined mutable global exported
// as GlobalExport followed by its rank among them, and CountExport added.
// The code is not touched, so the module runs exactly as before.
//
// # Errors
//
//   - ErrUnsupported: state that a snapshot of memory and globals would
//     miss: a start function (it would run again under the snapshot), an
//     imported global, a mutable global of a reference or vector type, an
//     instruction that changes a table or drops a data or element segment,
//     or a reserved export name already in use.
//   - wasmbin.ErrMalformed: wasm is not a well-formed module.
func Rewrite(wasm []byte) ([]byte, error) {
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return nil, err
	}
	if m.Has(wasmbin.SecStart) {
		return nil, fmt.Errorf("%w: the module has a start function", ErrUnsupported)
	}
	counts, err := m.Count()
	if err != nil {
		return nil, err
	}
	if counts.ImportedGlobals > 0 {
		return nil, fmt.Errorf("%w: the module imports a global", ErrUnsupported)
	}
	mutable, err := mutableGlobals(m.Section(wasmbin.SecGlobal))
	if err != nil {
		return nil, err
	}
	if err := checkCode(m.Section(wasmbin.SecCode)); err != nil {
		return nil, err
	}
	exports, err := m.Exports()
	if err != nil {
		return nil, err
	}
	for _, e := range exports {
		if e.Name == CountExport || len(e.Name) > len(GlobalExport) && e.Name[:len(GlobalExport)] == GlobalExport {
			return nil, fmt.Errorf("%w: it exports %s, a name reserved for the host", ErrUnsupported, e.Name)
		}
	}

	// The count: an immutable i32 global, appended after the others.
	countIndex := counts.Globals
	global := []byte{valI32, 0, wasmbin.OpI32Const}
	global = wasmbin.AppendS64(global, int64(len(mutable)))
	global = append(global, wasmbin.OpEnd)
	globals, err := wasmbin.AppendToVec(m.Section(wasmbin.SecGlobal), 1, global)
	if err != nil {
		return nil, err
	}
	var entries []byte
	for k, index := range mutable {
		entries = appendExport(entries, fmt.Sprintf("%s%d", GlobalExport, k), index)
	}
	entries = appendExport(entries, CountExport, countIndex)
	exportSec, err := wasmbin.AppendToVec(m.Section(wasmbin.SecExport), uint32(len(mutable))+1, entries)
	if err != nil {
		return nil, err
	}
	m.SetSection(wasmbin.SecGlobal, globals)
	m.SetSection(wasmbin.SecExport, exportSec)
	return m.Encode(), nil
}

// mutableGlobals returns the indices of the defined mutable globals (no
// global is imported), refusing types whose value api.Global cannot carry.
func mutableGlobals(payload []byte) ([]uint32, error) {
	if payload == nil {
		return nil, nil
	}
	r := wasmbin.NewReader(payload)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	var out []uint32
	for i := uint32(0); i < n; i++ {
		typ, err := r.Byte()
		if err != nil {
			return nil, err
		}
		mut, err := r.Byte()
		if err != nil {
			return nil, err
		}
		if _, err := r.ConstExpr(); err != nil {
			return nil, fmt.Errorf("global[%d]: %w", i, err)
		}
		if mut&mutableFlag == 0 {
			continue
		}
		switch typ {
		case valI32, valI64, valF32, valF64:
			out = append(out, i)
		default:
			return nil, fmt.Errorf("%w: mutable global[%d] has type %#x, not a number", ErrUnsupported, i, typ)
		}
	}
	return out, nil
}

// checkCode refuses code that changes tables or drops segments: state
// outside memory and globals that a snapshot would not carry.
func checkCode(payload []byte) error {
	bodies, err := wasmbin.Bodies(payload)
	if err != nil {
		return err
	}
	for i, b := range bodies {
		r := wasmbin.NewReader(b.Code)
		for r.Len() > 0 {
			in, err := r.Instr()
			if err != nil {
				return fmt.Errorf("body[%d]: %w", i, err)
			}
			switch {
			case in.Op == opTableSet:
			case in.Op != wasmbin.OpPrefixFC:
				continue
			case in.Sub == wasmbin.FCDataDrop, in.Sub == fcElemDrop, in.Sub == wasmbin.FCTableInit,
				in.Sub == wasmbin.FCTableCopy, in.Sub == wasmbin.FCTableGrow, in.Sub == wasmbin.FCTableFill:
			default:
				continue
			}
			return fmt.Errorf("%w: func body[%d] changes a table or drops a segment (opcode %#x %d)", ErrUnsupported, i, in.Op, in.Sub)
		}
	}
	return nil
}

func appendExport(out []byte, name string, global uint32) []byte {
	out = wasmbin.AppendU32(out, uint32(len(name)))
	out = append(out, name...)
	out = append(out, wasmbin.ExternGlobal)
	return wasmbin.AppendU32(out, global)
}
