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

// renumber rewrites every function index outside the code section; exports
// is the module's export section, decoded.
func renumber(m *wasmbin.Module, exports []wasmbin.Export, fn funcMap) error {
	if m.Has(wasmbin.SecExport) {
		data, err := renumberExports(exports, fn)
		if err != nil {
			return fmt.Errorf("section[%d]: %w", wasmbin.SecExport, err)
		}
		m.SetSection(wasmbin.SecExport, data)
	}
	for _, s := range []struct {
		id byte
		f  func([]byte, funcMap) ([]byte, error)
	}{
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

// rewriteVec rewrites a vector-shaped section payload entry by entry: entry
// reads the i-th entry from r and appends its new encoding to out.
func rewriteVec(data []byte, what string, entry func(r *wasmbin.Reader, out []byte, i uint32) ([]byte, error)) ([]byte, error) {
	r := wasmbin.NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := wasmbin.AppendU32(make([]byte, 0, len(data)+len(data)/8+16), n)
	for i := uint32(0); i < n; i++ {
		if out, err = entry(r, out, i); err != nil {
			return nil, err
		}
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last %s", ErrMalformed, r.Len(), what)
	}
	return out, nil
}

// renumberExports encodes the export section again, with the exports of
// kind func renumbered.
func renumberExports(exports []wasmbin.Export, fn funcMap) ([]byte, error) {
	out := wasmbin.AppendU32(nil, uint32(len(exports)))
	for _, e := range exports {
		if e.Kind == wasmbin.ExternFunc {
			if err := fn.check(e.Index, fmt.Sprintf("export %q", e.Name)); err != nil {
				return nil, err
			}
			e.Index = fn.of(e.Index)
		}
		out = wasmbin.AppendU32(out, uint32(len(e.Name)))
		out = append(out, e.Name...)
		out = append(out, e.Kind)
		out = wasmbin.AppendU32(out, e.Index)
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
	return rewriteVec(data, "element segment", func(r *wasmbin.Reader, out []byte, i uint32) ([]byte, error) {
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
		out = append(out, r.Bytes()[from:r.Pos()]...)
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
		return out, nil
	})
}

// renumberGlobals renumbers the ref.func of global initialisers.
func renumberGlobals(data []byte, fn funcMap) ([]byte, error) {
	return rewriteVec(data, "global", func(r *wasmbin.Reader, out []byte, i uint32) ([]byte, error) {
		typ, err := r.Next(2) // value type, mutability
		if err != nil {
			return nil, err
		}
		expr, err := r.ConstExpr()
		if err != nil {
			return nil, fmt.Errorf("global[%d]: %w", i, err)
		}
		return appendExpr(append(out, typ...), expr, fn, fmt.Sprintf("global[%d]", i))
	})
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
	out, err := rewriteVec(sub, "name", func(r *wasmbin.Reader, out []byte, _ uint32) ([]byte, error) {
		idx, err := r.U32()
		if err != nil {
			return nil, err
		}
		from := r.Pos()
		n := uint32(1) // one name, or a map of n
		if indirect {
			if n, err = r.U32(); err != nil {
				return nil, err
			}
		}
		for j := uint32(0); j < n; j++ {
			if indirect {
				if _, err := r.U32(); err != nil {
					return nil, err
				}
			}
			if _, err := r.Name(); err != nil {
				return nil, err
			}
		}
		out = wasmbin.AppendU32(out, fn.of(idx))
		return append(out, r.Bytes()[from:r.Pos()]...), nil
	})
	return out, err == nil
}

// checkTypeIndices refuses, as malformed, a function (defined or imported)
// whose type index is past the module's types: Meter appends types, which
// would make such an invalid module valid (and wazero v1.12 panics
// validating a call of such a function).
func checkTypeIndices(m *wasmbin.Module, imports []wasmbin.Import, types uint32) error {
	for i, im := range imports {
		if im.Kind == wasmbin.ExternFunc && im.Type >= types {
			return fmt.Errorf("%w: import[%d] has type[%d], past the module's %d types", ErrMalformed, i, im.Type, types)
		}
	}
	data := m.Section(wasmbin.SecFunction)
	if data == nil {
		return nil
	}
	_, err := rewriteVec(data, "function", func(r *wasmbin.Reader, _ []byte, i uint32) ([]byte, error) {
		t, err := r.U32()
		if err == nil && t >= types {
			err = fmt.Errorf("%w: function %d of the function section has type[%d], past the module's %d types", ErrMalformed, i, t, types)
		}
		return nil, err
	})
	return err
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
