package wasmcheck

import (
	"bytes"
	"fmt"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// header opens every WebAssembly 1.0 module: the magic number and version 1.
var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// checker is one walk over a module. With lim nil it only measures.
type checker struct {
	lim  *Limits
	seen Limits // the largest figure of each limit so far

	types    uint32 // entries of the type section
	imported uint32 // imported functions
	declared uint32 // entries of the function section
	tableMin uint64 // sum of the tables' initial sizes
	tableMax uint64 // sum of their maximum sizes, 1<<32 for a table without one
	growsAt  int64  // index of the first function using table.grow, or -1
	hasCode  bool
	nameSeen bool
}

func check(wasm []byte, lim *Limits) (Limits, error) {
	if !bytes.HasPrefix(wasm, header) {
		return Limits{}, nil // a decoder refuses it before trusting anything
	}
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		return Limits{}, err
	}
	c := &checker{lim: lim, growsAt: -1}
	for _, s := range m.Sections {
		if err := c.section(s.ID, s.Data); err != nil {
			if s.ID != wasmbin.SecCode { // the code's errors name their function
				err = fmt.Errorf("%s section: %w", sectionName(s.ID), err)
			}
			return c.seen, err
		}
	}
	if c.declared > 0 && !c.hasCode {
		return c.seen, fmt.Errorf("%w: %d functions declared and no code section", ErrMalformed, c.declared)
	}
	return c.seen, c.tables()
}

// section checks one section's payload.
func (c *checker) section(id byte, data []byte) error {
	r := wasmbin.NewReader(data)
	var err error
	switch id {
	case wasmbin.SecCustom:
		return c.custom(r)
	case wasmbin.SecType:
		c.types, err = c.vec(r, "types", 3, limEntries, c.funcType)
	case wasmbin.SecImport:
		_, err = c.vec(r, "imports", 4, limEntries, c.importEntry)
	case wasmbin.SecFunction:
		c.declared, err = c.vec(r, "functions", 1, limit{}, c.typeIndex)
		if err == nil {
			err = c.figure(uint64(c.imported)+uint64(c.declared), limFunctions, "declares %d functions (imports included)")
		}
	case wasmbin.SecTable:
		_, err = c.vec(r, "tables", 3, limEntries, c.tableType)
	case wasmbin.SecMemory:
		_, err = c.vec(r, "memories", 2, limEntries, func(r *wasmbin.Reader) error {
			_, err := limits(r)
			return err
		})
	case wasmbin.SecGlobal:
		_, err = c.vec(r, "globals", 3, limEntries, func(r *wasmbin.Reader) error {
			if err := valType(r); err != nil {
				return err
			}
			if err := mutability(r); err != nil {
				return err
			}
			_, err := r.ConstExpr()
			return err
		})
	case wasmbin.SecExport:
		_, err = c.vec(r, "exports", 3, limEntries, exportEntry)
	case wasmbin.SecStart:
		_, err = r.U32()
	case wasmbin.SecElement:
		err = c.elements(r)
	case wasmbin.SecDataCount:
		var n uint32
		if n, err = r.U32(); err == nil {
			err = c.figure(uint64(n), limEntries, "declares %d data segments")
		}
	case wasmbin.SecCode:
		err = c.code(r)
	case wasmbin.SecData:
		_, err = c.vec(r, "data segments", 2, limEntries, dataSegment)
	default: // the tag section: Parse knows no other id
		return fmt.Errorf("%w: section id %d (exception handling)", ErrUnsupported, id)
	}
	if err != nil {
		return err
	}
	return finished(r, "section")
}

// vec checks a vector of entries of at least minSize bytes each: its count
// against the bytes left and lim (none for the zero limit), then each
// entry with entry.
func (c *checker) vec(r *wasmbin.Reader, what string, minSize int, lim limit, entry func(*wasmbin.Reader) error) (uint32, error) {
	n, err := count(r, what, minSize)
	if err != nil {
		return 0, err
	}
	if lim.field != nil {
		if err := c.figure(uint64(n), lim, "declares %d "+what); err != nil {
			return 0, err
		}
	}
	for i := range n {
		if err := entry(r); err != nil {
			return 0, within(fmt.Sprintf("%s[%d]", singular(what), i), err)
		}
	}
	return n, nil
}

// within says where err happened: a *LimitError reads "function[3] nests
// blocks ...", another error "function[3]: malformed wasm: ...".
func within(where string, err error) error {
	if le, ok := err.(*LimitError); ok {
		le.msg = where + " " + le.msg
		return le
	}
	return fmt.Errorf("%s: %w", where, err)
}

// count reads a vector's length and refuses one that cannot fit in the bytes
// left: the check that keeps a decoder from allocating for entries that are
// not there.
func count(r *wasmbin.Reader, what string, minSize int) (uint32, error) {
	n, err := r.U32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(r.Len()) {
		return 0, fmt.Errorf("%w: declares %d %s in %d bytes", ErrMalformed, n, what, r.Len())
	}
	return n, nil
}

// finished refuses bytes left after the last entry of what.
func finished(r *wasmbin.Reader, what string) error {
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d bytes after the end of the %s", ErrMalformed, r.Len(), what)
	}
	return nil
}

func (c *checker) funcType(r *wasmbin.Reader) error {
	form, err := r.Byte()
	if err != nil {
		return err
	}
	if form != 0x60 {
		return fmt.Errorf("%w: type form %#x (only function types, 0x60)", ErrUnsupported, form)
	}
	for _, what := range []string{"parameters", "results"} {
		n, err := count(r, what, 1)
		if err != nil {
			return err
		}
		if err := c.figure(uint64(n), limParams, "has %d "+what); err != nil {
			return err
		}
		for range n {
			if err := valType(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// typeIndex reads a function's type index and refuses one past the type
// section: wazero v1.12's validator indexes with it unchecked and panics.
func (c *checker) typeIndex(r *wasmbin.Reader) error {
	t, err := r.U32()
	if err == nil && t >= c.types {
		err = fmt.Errorf("%w: type index %d, the module has %d types", ErrMalformed, t, c.types)
	}
	return err
}

func (c *checker) importEntry(r *wasmbin.Reader) error {
	if err := names(r, 2); err != nil {
		return err
	}
	kind, err := r.Byte()
	if err != nil {
		return err
	}
	switch kind {
	case wasmbin.ExternFunc:
		err = c.typeIndex(r)
		c.imported++
	case wasmbin.ExternTable:
		err = c.tableType(r)
	case wasmbin.ExternMemory:
		_, err = limits(r)
	case wasmbin.ExternGlobal:
		if err = valType(r); err == nil {
			err = mutability(r)
		}
	default:
		return fmt.Errorf("%w: import kind %#x", ErrUnsupported, kind)
	}
	return err
}

func exportEntry(r *wasmbin.Reader) error {
	if err := names(r, 1); err != nil {
		return err
	}
	kind, err := r.Byte()
	if err != nil {
		return err
	}
	if kind > wasmbin.ExternGlobal {
		return fmt.Errorf("%w: export kind %#x", ErrUnsupported, kind)
	}
	_, err = r.U32()
	return err
}

// names skips n length-prefixed names; Next checks each length against the
// bytes left.
func names(r *wasmbin.Reader, n int) error {
	for range n {
		if _, err := r.Name(); err != nil {
			return err
		}
	}
	return nil
}

// tableType reads a table's element type and limits and adds them to the
// module's table sizes.
func (c *checker) tableType(r *wasmbin.Reader) error {
	if err := refType(r); err != nil {
		return err
	}
	l, err := limits(r)
	if err != nil {
		return err
	}
	c.tableMin += uint64(l.min)
	if l.hasMax {
		c.tableMax += uint64(l.max)
	} else {
		c.tableMax += 1 << 32
	}
	return c.figure(c.tableMin, limTableElements, "brings the tables to %d initial elements")
}

// tables refuses a module whose code grows tables that may exceed
// Limits.TableElements: wazero would allocate them per instance, outside the
// memory cap.
func (c *checker) tables() error {
	if c.growsAt < 0 {
		return nil
	}
	return c.figure(c.tableMax, limTableElements,
		fmt.Sprintf("function[%d] grows a table (table.grow) while the tables may reach %%d elements; declare their maximum", c.growsAt))
}

type limitsType struct {
	min, max uint32
	hasMax   bool
}

// limits reads the limits of a table or memory: flags 0 to 3 (a maximum,
// shared), 32-bit sizes.
func limits(r *wasmbin.Reader) (limitsType, error) {
	var l limitsType
	flags, err := r.Byte()
	if err != nil {
		return l, err
	}
	if flags > 3 {
		return l, fmt.Errorf("%w: limits flags %#x (64-bit memories)", ErrUnsupported, flags)
	}
	if l.min, err = r.U32(); err != nil {
		return l, err
	}
	if flags&1 != 0 {
		l.hasMax = true
		l.max, err = r.U32()
	}
	return l, err
}

// valType reads a value type of WebAssembly 2.0.
func valType(r *wasmbin.Reader) error {
	t, err := r.Byte()
	if err != nil {
		return err
	}
	if (t < 0x7B || t > 0x7F) && t != 0x70 && t != 0x6F {
		return fmt.Errorf("%w: value type %#x", ErrUnsupported, t)
	}
	return nil
}

// refType reads funcref or externref.
func refType(r *wasmbin.Reader) error {
	t, err := r.Byte()
	if err != nil {
		return err
	}
	if t != 0x70 && t != 0x6F {
		return fmt.Errorf("%w: reference type %#x", ErrUnsupported, t)
	}
	return nil
}

func mutability(r *wasmbin.Reader) error {
	m, err := r.Byte()
	if err != nil {
		return err
	}
	if m > 1 {
		return fmt.Errorf("%w: mutability %#x", ErrMalformed, m)
	}
	return nil
}

// elements checks the element section: its segments in every encoding of
// WebAssembly 2.0, and their items, which count against Limits.Entries
// together with the segments.
func (c *checker) elements(r *wasmbin.Reader) error {
	var items uint64
	_, err := c.vec(r, "element segments", 3, limEntries, func(r *wasmbin.Reader) error {
		n, err := c.elementSegment(r)
		items += uint64(n)
		return err
	})
	if err != nil {
		return err
	}
	return c.figure(items, limEntries, "declares %d element items")
}

// elementSegment reads one segment and returns its number of items. The
// flags say whether it is active with an offset (bit 0 clear), names its
// table (bit 1 with bit 0 clear), and holds expressions rather than function
// indices (bit 2).
func (c *checker) elementSegment(r *wasmbin.Reader) (uint32, error) {
	flags, err := r.U32()
	if err != nil {
		return 0, err
	}
	if flags > 7 {
		return 0, fmt.Errorf("%w: element segment flags %d", ErrMalformed, flags)
	}
	active, explicit, exprs := flags&1 == 0, flags&2 != 0, flags&4 != 0
	if active && explicit {
		if _, err := r.U32(); err != nil { // table index
			return 0, err
		}
	}
	if active {
		if _, err := r.ConstExpr(); err != nil {
			return 0, err
		}
	}
	if !active || explicit { // an element kind or reference type
		if exprs {
			err = refType(r)
		} else {
			var kind byte
			if kind, err = r.Byte(); err == nil && kind != 0 {
				err = fmt.Errorf("%w: element kind %#x", ErrMalformed, kind)
			}
		}
		if err != nil {
			return 0, err
		}
	}
	n, err := count(r, "items", 1)
	if err != nil {
		return 0, err
	}
	for range n {
		if exprs {
			_, err = r.ConstExpr()
		} else {
			_, err = r.U32()
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

func dataSegment(r *wasmbin.Reader) error {
	mode, err := r.U32()
	if err != nil {
		return err
	}
	switch mode {
	case wasmbin.DataActiveExplicit:
		if _, err := r.U32(); err != nil { // memory index
			return err
		}
		fallthrough
	case wasmbin.DataActive:
		if _, err := r.ConstExpr(); err != nil {
			return err
		}
	case wasmbin.DataPassive:
	default:
		return fmt.Errorf("%w: data segment mode %d", ErrMalformed, mode)
	}
	_, err = r.Name() // the bytes, length-prefixed like a name
	return err
}

// custom checks the name section, which wazero decodes whatever the
// configuration; other custom sections are opaque bytes that Parse already
// found inside the module.
func (c *checker) custom(r *wasmbin.Reader) error {
	name, err := r.Name()
	if err != nil || string(name) != "name" {
		return err
	}
	if c.nameSeen {
		return fmt.Errorf("%w: a second name section", ErrMalformed)
	}
	c.nameSeen = true
	var entries uint64
	for r.Len() > 0 {
		id, err := r.Byte()
		if err != nil {
			return err
		}
		sub, err := r.Name() // the subsection, length-prefixed
		if err != nil {
			return err
		}
		// wazero decodes the known subsections by their content, ignoring
		// their sizes: each must fill its size exactly for both to agree.
		sr := wasmbin.NewReader(sub)
		switch id {
		case 0: // module name
			_, err = sr.Name()
		case 1: // function names
			var n uint32
			n, err = nameMap(sr)
			entries += uint64(n)
		case 2: // local names: a name map per function
			var n uint32
			if n, err = count(sr, "functions", 2); err != nil {
				return fmt.Errorf("name subsection[%d]: %w", id, err)
			}
			entries += uint64(n)
			for range n {
				if _, err = sr.U32(); err != nil {
					break
				}
				var k uint32
				if k, err = nameMap(sr); err != nil {
					break
				}
				entries += uint64(k)
			}
		default:
			continue // skipped by size, by wazero too
		}
		if err == nil {
			err = finished(sr, "subsection")
		}
		if err != nil {
			return fmt.Errorf("name subsection[%d]: %w", id, err)
		}
		if err := c.figure(entries, limEntries, "holds %d names"); err != nil {
			return err
		}
	}
	return nil
}

// nameMap reads a vector of (index, name) and returns its length.
func nameMap(r *wasmbin.Reader) (uint32, error) {
	n, err := count(r, "names", 2)
	if err != nil {
		return 0, err
	}
	for range n {
		if _, err := r.U32(); err != nil {
			return 0, err
		}
		if _, err := r.Name(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// sectionName names a section in messages.
func sectionName(id byte) string {
	if int(id) < len(sectionNames) && sectionNames[id] != "" {
		return sectionNames[id]
	}
	return fmt.Sprintf("section[%d]", id)
}

var sectionNames = [...]string{
	wasmbin.SecCustom: "custom", wasmbin.SecType: "type", wasmbin.SecImport: "import",
	wasmbin.SecFunction: "function", wasmbin.SecTable: "table", wasmbin.SecMemory: "memory",
	wasmbin.SecGlobal: "global", wasmbin.SecExport: "export", wasmbin.SecStart: "start",
	wasmbin.SecElement: "element", wasmbin.SecCode: "code", wasmbin.SecData: "data",
	wasmbin.SecDataCount: "data count", wasmbin.SecTag: "tag",
}

// singular names one entry of a vector in messages.
func singular(what string) string {
	switch what {
	case "data segments":
		return "data segment"
	case "element segments":
		return "element segment"
	case "memories":
		return "memory"
	}
	return what[:len(what)-1]
}
