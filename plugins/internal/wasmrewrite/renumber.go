package wasmrewrite

import (
	"fmt"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// Meter appends one imported function, RefuelFunc, after the module's own
// imports. Imported functions are numbered before defined ones, so every
// defined function's index grows by one, and every place that names a
// function must follow: code (call, return_call, ref.func, done by
// planBody), exports, the start section, element segments, global
// initialisers, and the name section. This file does everything but the code.

// funcMap is the renumbering of function indices.
type funcMap struct {
	refuel uint32 // the import's index: the module's imported function count
	funcs  uint32 // the module's own function count, imports included
}

// of returns the new index of function f of the original module.
func (fn funcMap) of(f uint32) uint32 {
	if f >= fn.refuel {
		return f + 1
	}
	return f
}

// check refuses an index past the module's own functions, which only an
// invalid module has: renumbered, it could name the refuel import or a
// helper and make the module valid (see planBody).
func (fn funcMap) check(f uint32, where string) error {
	if f >= fn.funcs {
		return fmt.Errorf("%w: %s names func[%d], past the module's %d functions", ErrMalformed, where, f, fn.funcs)
	}
	return nil
}

// renumber rewrites every function index outside the code section.
func renumber(m *wasmbin.Module, fn funcMap) error {
	for _, s := range []struct {
		id byte
		f  func([]byte, funcMap) ([]byte, error)
	}{
		{wasmbin.SecExport, renumberExports},
		{wasmbin.SecStart, renumberStart},
		{wasmbin.SecElement, renumberElements},
		{wasmbin.SecGlobal, renumberGlobals},
	} {
		data := m.Section(s.id)
		if data == nil {
			continue
		}
		out, err := s.f(data, fn)
		if err != nil {
			return fmt.Errorf("section[%d]: %w", s.id, err)
		}
		m.SetSection(s.id, out)
	}
	for k := range m.Sections {
		if sec := &m.Sections[k]; sec.ID == wasmbin.SecCustom {
			sec.Data = renumberNames(sec.Data, fn)
		}
	}
	return nil
}

// renumberExports renumbers the exports of kind func.
func renumberExports(data []byte, fn funcMap) ([]byte, error) {
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(data)+16), n)
	for i := uint32(0); i < n; i++ {
		name, err := r.Name()
		if err != nil {
			return nil, err
		}
		kind, err := r.Byte()
		if err != nil {
			return nil, err
		}
		idx, err := r.U32()
		if err != nil {
			return nil, err
		}
		if kind == wasmbin.ExternFunc {
			if err := fn.check(idx, fmt.Sprintf("export %q", name)); err != nil {
				return nil, err
			}
			idx = fn.of(idx)
		}
		out = wasmbin.AppendU32(out, uint32(len(name)))
		out = append(out, name...)
		out = append(out, kind)
		out = wasmbin.AppendU32(out, idx)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last export", ErrMalformed, r.Len())
	}
	return out, nil
}

// renumberStart renumbers the start function.
func renumberStart(data []byte, fn funcMap) ([]byte, error) {
	r := wasmbin.NewReader(data)
	idx, err := r.U32()
	if err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the start function", ErrMalformed, r.Len())
	}
	if err := fn.check(idx, "the start section"); err != nil {
		return nil, err
	}
	return wasmbin.AppendU32(nil, fn.of(idx)), nil
}

// Element segment flags (the u32 that opens each segment).
const (
	elemPassiveOrDeclared = 1 << 0 // else active
	elemExplicitTable     = 1 << 1 // active: a table index follows; else declarative
	elemExprs             = 1 << 2 // the elements are expressions, not function indices
)

// renumberElements renumbers the element segments of every form: the
// function indices of forms 0-3 and the ref.func of the expressions of
// forms 4-7.
func renumberElements(data []byte, fn funcMap) ([]byte, error) {
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(data)+len(data)/8+16), n)
	for i := uint32(0); i < n; i++ {
		where := fmt.Sprintf("elem[%d]", i)
		flags, err := r.U32()
		if err != nil {
			return nil, err
		}
		if flags > 7 {
			return nil, fmt.Errorf("%w: %s has flags %d", ErrMalformed, where, flags)
		}
		// Everything up to the elements' vector is copied as it is: the
		// table index, the offset expression (an i32), and the element kind
		// or reference type.
		from := r.Pos()
		if flags&elemPassiveOrDeclared == 0 {
			if flags&elemExplicitTable != 0 {
				if _, err := r.U32(); err != nil {
					return nil, err
				}
			}
			if _, err := r.ConstExpr(); err != nil {
				return nil, fmt.Errorf("offset of %s: %w", where, err)
			}
		}
		if flags&(elemPassiveOrDeclared|elemExplicitTable) != 0 { // forms 1-3, 5-7
			if _, err := r.Byte(); err != nil {
				return nil, err
			}
		}
		out = wasmbin.AppendU32(out, flags)
		out = append(out, data[from:r.Pos()]...)
		count, err := r.U32()
		if err != nil {
			return nil, err
		}
		if int(count) > r.Len() {
			return nil, fmt.Errorf("%w: %s claims %d elements in %d bytes", ErrMalformed, where, count, r.Len())
		}
		out = wasmbin.AppendU32(out, count)
		for j := uint32(0); j < count; j++ {
			if flags&elemExprs == 0 {
				idx, err := r.U32()
				if err != nil {
					return nil, err
				}
				if err := fn.check(idx, where); err != nil {
					return nil, err
				}
				out = wasmbin.AppendU32(out, fn.of(idx))
				continue
			}
			expr, err := r.ConstExpr()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if out, err = appendExpr(out, expr, fn, where); err != nil {
				return nil, err
			}
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last element segment", ErrMalformed, r.Len())
	}
	return out, nil
}

// renumberGlobals renumbers the ref.func of global initialisers.
func renumberGlobals(data []byte, fn funcMap) ([]byte, error) {
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(data)+16), n)
	for i := uint32(0); i < n; i++ {
		typ, err := r.Next(2) // value type, mutability
		if err != nil {
			return nil, err
		}
		expr, err := r.ConstExpr()
		if err != nil {
			return nil, fmt.Errorf("global[%d]: %w", i, err)
		}
		out = append(out, typ...)
		if out, err = appendExpr(out, expr, fn, fmt.Sprintf("global[%d]", i)); err != nil {
			return nil, err
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last global", ErrMalformed, r.Len())
	}
	return out, nil
}

// appendExpr appends a constant expression with its ref.func renumbered.
func appendExpr(out, expr []byte, fn funcMap, where string) ([]byte, error) {
	r := wasmbin.NewReader(expr)
	prev := 0
	for r.Len() > 0 {
		in, err := r.Instr()
		if err != nil {
			return nil, err
		}
		if in.Op != opRefFunc {
			continue
		}
		if err := fn.check(in.Index, where); err != nil {
			return nil, err
		}
		out = append(out, expr[prev:in.IndexStart]...)
		out = wasmbin.AppendU32(out, fn.of(in.Index))
		prev = in.IndexEnd
	}
	return append(out, expr[prev:]...), nil
}

// Subsections of the name section that map function indices: function
// names and local names (WebAssembly 2.0), label names (the extended name
// section proposal). The others (module, types, tables, memories, globals,
// segments, fields, tags) name nothing that moves.
const (
	nameFunctions = 1
	nameLocals    = 2
	nameLabels    = 3
)

// renumberNames renumbers the custom section payload when it is the name
// section, and returns it unchanged otherwise. Names are what wasm stack
// traces show (a Go guest's panics included), so they are kept. A
// function-keyed subsection that does not decode is dropped: names are
// debugging information, and wazero refuses a module whose function or
// local names do not decode, so this drops nothing a valid module relies on.
func renumberNames(data []byte, fn funcMap) []byte {
	r := wasmbin.NewReader(data)
	if name, err := r.Name(); err != nil || string(name) != "name" {
		return data
	}
	out := append(make([]byte, 0, len(data)+len(data)/16+16), data[:r.Pos()]...)
	for r.Len() > 0 {
		start := r.Pos()
		id, _ := r.Byte()
		size, err := r.U32()
		if err != nil {
			return out // a truncated subsection ends what we keep
		}
		sub, err := r.Next(int(size))
		if err != nil {
			return out
		}
		switch id {
		case nameFunctions, nameLocals, nameLabels:
			b, ok := renumberNameMap(sub, fn, id != nameFunctions)
			if !ok {
				continue
			}
			out = append(out, id)
			out = wasmbin.AppendU32(out, uint32(len(b)))
			out = append(out, b...)
		default:
			out = append(out, data[start:r.Pos()]...)
		}
	}
	return out
}

// renumberNameMap renumbers a name map keyed by function index (each entry
// a name, or with indirect a name map of locals or labels, copied as it
// is). It reports false when the subsection does not decode to its end.
func renumberNameMap(sub []byte, fn funcMap, indirect bool) ([]byte, bool) {
	r := wasmbin.NewReader(sub)
	n, err := r.U32()
	if err != nil {
		return nil, false
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(sub)+len(sub)/16+8), n)
	for i := uint32(0); i < n; i++ {
		idx, err := r.U32()
		if err != nil {
			return nil, false
		}
		from := r.Pos()
		if indirect {
			m, err := r.U32()
			if err != nil {
				return nil, false
			}
			for j := uint32(0); j < m; j++ {
				if _, err := r.U32(); err != nil {
					return nil, false
				}
				if _, err := r.Name(); err != nil {
					return nil, false
				}
			}
		} else if _, err := r.Name(); err != nil {
			return nil, false
		}
		out = wasmbin.AppendU32(out, fn.of(idx))
		out = append(out, sub[from:r.Pos()]...)
	}
	return out, r.Len() == 0
}

// checkTypeIndices refuses, as malformed, a function (defined or imported)
// whose type index is past the module's types: Meter appends types, which
// would make such an invalid module valid (and wazero v1.12 panics
// validating a call of such a function).
func checkTypeIndices(m *wasmbin.Module, types uint32) error {
	if data := m.Section(wasmbin.SecFunction); data != nil {
		r := wasmbin.NewReader(data)
		n, err := r.U32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			t, err := r.U32()
			if err != nil {
				return err
			}
			if t >= types {
				return fmt.Errorf("%w: function %d of the function section has type[%d], past the module's %d types", ErrMalformed, i, t, types)
			}
		}
	}
	data := m.Section(wasmbin.SecImport)
	if data == nil {
		return nil
	}
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := r.Name(); err != nil {
			return err
		}
		if _, err := r.Name(); err != nil {
			return err
		}
		kind, err := r.Byte()
		if err != nil {
			return err
		}
		switch kind {
		case wasmbin.ExternFunc:
			t, err := r.U32()
			if err != nil {
				return err
			}
			if t >= types {
				return fmt.Errorf("%w: import[%d] has type[%d], past the module's %d types", ErrMalformed, i, t, types)
			}
		case wasmbin.ExternTable, wasmbin.ExternMemory:
			if kind == wasmbin.ExternTable {
				if _, err := r.Byte(); err != nil {
					return err
				}
			}
			flags, err := r.Byte()
			if err != nil {
				return err
			}
			if _, err := r.U64(); err != nil {
				return err
			}
			if flags&1 != 0 {
				if _, err := r.U64(); err != nil {
					return err
				}
			}
		case wasmbin.ExternGlobal:
			if _, err := r.Next(2); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: import[%d] of kind %#x", ErrUnsupported, i, kind)
		}
	}
	return nil
}

// blockTypeIn reports whether a block type (the immediate of block, loop
// or if) is empty, a value type, or a type index below types.
func blockTypeIn(bt []byte, types uint32) bool {
	if simpleBlockType(bt) {
		return true
	}
	t, err := wasmbin.NewReader(bt).S33()
	return err == nil && t >= 0 && t < int64(types)
}
