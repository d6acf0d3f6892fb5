// Package wasmbin splits a WebAssembly binary into sections, decodes the few
// parts of them the rewriter changes (imports, functions, globals, exports,
// code bodies, data segments) and encodes them again. Everything it does not
// need to change stays as raw bytes, so a 3 MB module is rewritten in
// milliseconds and unknown custom sections survive untouched.
//
// It decodes every instruction of WebAssembly 2.0 plus the proposals wazero
// implements (SIMD, threads' atomics, tail calls) and returns an error
// wrapping ErrUnsupported for anything else.
package wasmbin

import (
	"bytes"
	"fmt"
)

// Section ids, in the order the binary format requires (DataCount sits between
// Element and Code).
const (
	SecCustom    byte = 0
	SecType      byte = 1
	SecImport    byte = 2
	SecFunction  byte = 3
	SecTable     byte = 4
	SecMemory    byte = 5
	SecGlobal    byte = 6
	SecExport    byte = 7
	SecStart     byte = 8
	SecElement   byte = 9
	SecCode      byte = 10
	SecData      byte = 11
	SecDataCount byte = 12
	SecTag       byte = 13
)

// order gives each known section id its rank in a valid module.
var order = [...]int{
	SecType: 1, SecImport: 2, SecFunction: 3, SecTable: 4, SecMemory: 5, SecTag: 6,
	SecGlobal: 7, SecExport: 8, SecStart: 9, SecElement: 10, SecDataCount: 11,
	SecCode: 12, SecData: 13,
}

// header is the magic number and version 1 that open every module.
var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Section is one section of a module: its id and its payload (without the id
// byte and size). Payloads returned by Parse alias the input.
type Section struct {
	ID   byte
	Data []byte
}

// Module is a module split into its sections, in binary order.
type Module struct {
	Sections []Section
}

// Parse splits wasm into sections. It checks the header, that every section
// fits and that known sections appear at most once and in order; it does not
// decode their contents.
//
// # Errors
//
// An error wrapping ErrMalformed for a bad header or section framing.
func Parse(wasm []byte) (*Module, error) {
	if !bytes.HasPrefix(wasm, header) {
		return nil, fmt.Errorf("%w: not a wasm 1.0 binary (bad magic or version)", ErrMalformed)
	}
	r := NewReader(wasm)
	r.pos = len(header)
	m := &Module{}
	last := 0
	for r.Len() > 0 {
		id, _ := r.Byte()
		size, err := r.U32()
		if err != nil {
			return nil, err
		}
		data, err := r.Next(int(size))
		if err != nil {
			return nil, fmt.Errorf("%w: section[%d] of %d bytes runs past the end", ErrMalformed, id, size)
		}
		if id != SecCustom {
			if int(id) >= len(order) || order[id] == 0 {
				return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
			}
			if order[id] <= last {
				return nil, fmt.Errorf("%w: section[%d] out of order or repeated", ErrMalformed, id)
			}
			last = order[id]
		}
		m.Sections = append(m.Sections, Section{ID: id, Data: data})
	}
	return m, nil
}

// Section returns the payload of the known section id, or nil when the module
// has none.
func (m *Module) Section(id byte) []byte {
	if i := m.index(id); i >= 0 {
		return m.Sections[i].Data
	}
	return nil
}

// Has reports whether the module has the known section id.
func (m *Module) Has(id byte) bool { return m.index(id) >= 0 }

func (m *Module) index(id byte) int {
	for i, s := range m.Sections {
		if s.ID == id {
			return i
		}
	}
	return -1
}

// SetSection replaces the payload of the known section id, inserting the
// section at its required position when the module has none.
func (m *Module) SetSection(id byte, data []byte) {
	if i := m.index(id); i >= 0 {
		m.Sections[i].Data = data
		return
	}
	// Insert before the first known section that must follow id, so custom
	// sections keep their neighbours.
	at := len(m.Sections)
	for i, s := range m.Sections {
		if s.ID != SecCustom && order[s.ID] > order[id] {
			at = i
			break
		}
	}
	m.Sections = append(m.Sections, Section{})
	copy(m.Sections[at+1:], m.Sections[at:])
	m.Sections[at] = Section{ID: id, Data: data}
}

// Encode returns the binary encoding of the module.
func (m *Module) Encode() []byte {
	n := len(header)
	for _, s := range m.Sections {
		n += 1 + 5 + len(s.Data)
	}
	out := make([]byte, 0, n)
	out = append(out, header...)
	for _, s := range m.Sections {
		out = append(out, s.ID)
		out = AppendU32(out, uint32(len(s.Data)))
		out = append(out, s.Data...)
	}
	return out
}

// Counts holds how many entities of each kind a module has, imports included:
// the index the next defined function or global will get.
type Counts struct {
	Types, Funcs, Tables, Memories, Globals, Data uint32
	// ImportedFuncs, ImportedGlobals and ImportedMemories count the imports
	// alone; defined entities are numbered after them.
	ImportedFuncs, ImportedGlobals, ImportedMemories uint32
}

// Count decodes the vector lengths of the module's sections and the import
// section's entries.
//
// # Errors
//
// ErrMalformed for a bad import entry, ErrUnsupported for an import kind other
// than function, table, memory or global.
func (m *Module) Count() (Counts, error) {
	var c Counts
	for _, v := range []struct {
		id byte
		n  *uint32
	}{
		{SecType, &c.Types}, {SecFunction, &c.Funcs}, {SecTable, &c.Tables},
		{SecMemory, &c.Memories}, {SecGlobal, &c.Globals}, {SecData, &c.Data},
	} {
		if data := m.Section(v.id); data != nil {
			var err error
			if *v.n, err = NewReader(data).U32(); err != nil {
				return c, fmt.Errorf("section[%d]: %w", v.id, err)
			}
		}
	}
	imports, err := m.Imports()
	if err != nil {
		return c, err
	}
	for _, im := range imports {
		switch im.Kind {
		case ExternFunc:
			c.ImportedFuncs++
		case ExternTable:
			c.Tables++
		case ExternMemory:
			c.ImportedMemories++
		case ExternGlobal:
			c.ImportedGlobals++
		}
	}
	c.Funcs += c.ImportedFuncs
	c.Memories += c.ImportedMemories
	c.Globals += c.ImportedGlobals
	return c, nil
}

// External kinds of imports and exports.
const (
	ExternFunc   byte = 0
	ExternTable  byte = 1
	ExternMemory byte = 2
	ExternGlobal byte = 3
)

// Import is one decoded import entry.
type Import struct {
	Module, Name string
	Kind         byte
	// Type is the type index of a function import.
	Type uint32
	// Memory64 is set for a memory import with a 64-bit index type.
	Memory64 bool
}

// Imports decodes the import section.
func (m *Module) Imports() ([]Import, error) {
	data := m.Section(SecImport)
	if data == nil {
		return nil, nil
	}
	r := NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := make([]Import, 0, min(n, 1024))
	for i := uint32(0); i < n; i++ {
		mod, err := r.Name()
		if err != nil {
			return nil, err
		}
		name, err := r.Name()
		if err != nil {
			return nil, err
		}
		kind, err := r.Byte()
		if err != nil {
			return nil, err
		}
		im := Import{Module: string(mod), Name: string(name), Kind: kind}
		switch kind {
		case ExternFunc:
			im.Type, err = r.U32()
		case ExternTable:
			if _, err = r.Byte(); err == nil {
				_, err = r.limits()
			}
		case ExternMemory:
			var flags byte
			flags, err = r.limits()
			im.Memory64 = flags&0x04 != 0
		case ExternGlobal:
			if _, err = r.Byte(); err == nil {
				_, err = r.Byte()
			}
		default:
			return nil, fmt.Errorf("%w: import[%d] of kind %#x", ErrUnsupported, i, kind)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

// limits reads a limits structure and returns its flags byte.
func (r *Reader) limits() (byte, error) {
	flags, err := r.Byte()
	if err != nil {
		return 0, err
	}
	if flags > 0x07 {
		return 0, fmt.Errorf("%w: limits flags %#x at offset %d", ErrMalformed, flags, r.pos-1)
	}
	if _, err := r.U64(); err != nil {
		return 0, err
	}
	if flags&0x01 != 0 {
		if _, err := r.U64(); err != nil {
			return 0, err
		}
	}
	return flags, nil
}

// Memory64 reports whether any memory of the module, imported or defined,
// uses 64-bit addresses.
func (m *Module) Memory64() (bool, error) {
	imports, err := m.Imports()
	if err != nil {
		return false, err
	}
	for _, im := range imports {
		if im.Memory64 {
			return true, nil
		}
	}
	data := m.Section(SecMemory)
	if data == nil {
		return false, nil
	}
	r := NewReader(data)
	n, err := r.U32()
	if err != nil {
		return false, err
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.limits()
		if err != nil {
			return false, err
		}
		if flags&0x04 != 0 {
			return true, nil
		}
	}
	return false, nil
}

// Export is one decoded export entry.
type Export struct {
	Name  string
	Kind  byte
	Index uint32
}

// Exports decodes the export section.
func (m *Module) Exports() ([]Export, error) {
	data := m.Section(SecExport)
	if data == nil {
		return nil, nil
	}
	r := NewReader(data)
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := make([]Export, 0, min(n, 1024))
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
		out = append(out, Export{Name: string(name), Kind: kind, Index: idx})
	}
	return out, nil
}

// AppendToVec returns a copy of a vector-shaped section payload (a count
// followed by entries) with entries appended and the count increased by
// added. A nil payload is treated as an empty vector.
func AppendToVec(payload []byte, added uint32, entries []byte) ([]byte, error) {
	var n uint32
	rest := payload
	if payload != nil {
		r := NewReader(payload)
		var err error
		if n, err = r.U32(); err != nil {
			return nil, err
		}
		rest = payload[r.Pos():]
	}
	out := make([]byte, 0, 5+len(rest)+len(entries))
	out = AppendU32(out, n+added)
	out = append(out, rest...)
	return append(out, entries...), nil
}
