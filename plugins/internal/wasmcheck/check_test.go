package wasmcheck

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// shapes build a module whose figure for one limit is n, and nothing else
// near a limit.
var shapes = []struct {
	limit limit
	build func(n int) []byte
}{
	{limFunctions, func(n int) []byte {
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = body(noLocals, end)
		}
		return funcs(bodies...)
	}},
	{limEntries, func(n int) []byte {
		global := cat([]byte{0x7F, 0}, i32Const0, end)
		return module(section(wasmbin.SecGlobal, leb(uint32(n)), rep(global, n)))
	}},
	{limTableElements, func(n int) []byte {
		return module(section(wasmbin.SecTable, vec(cat([]byte{0x70, 0}, leb(uint32(n))))))
	}},
	{limParams, func(n int) []byte {
		return module(section(wasmbin.SecType, vec(cat([]byte{0x60}, leb(uint32(n)), rep([]byte{0x7F}, n), []byte{0}))))
	}},
	{limFunctionBytes, func(n int) []byte {
		return funcs(body(noLocals, rep([]byte{0x01}, n-2), end)) // nops
	}},
	{limLocals, func(n int) []byte {
		return funcs(body(cat(leb(1), leb(uint32(n)), []byte{0x7F}), end))
	}},
	{limNesting, func(n int) []byte { return nested(blockOpen, n) }},
	{limControl, func(n int) []byte { return code(rep(cat(blockOpen, end), n)) }},
}

// TestLimits requires each limit to accept a module at it and refuse one
// just over it, with a *LimitError naming it.
func TestLimits(t *testing.T) {
	for _, s := range shapes {
		key := s.limit.key
		t.Run(key, func(t *testing.T) {
			lim := Default
			*s.limit.field(&lim) = 7
			if err := Check(s.build(7), lim); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			err := Check(s.build(8), lim)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != key || le.Max != 7 || le.Value != 8 {
				t.Fatalf("over the limit: %v, want a *LimitError of %s", err, key)
			}
			if !strings.HasSuffix(err.Error(), "; the limit is 7 ("+key+")") {
				t.Errorf("message %q does not end with the limit and its key", err)
			}
			got, err := Measure(s.build(8))
			if err != nil || *s.limit.field(&got) != 8 {
				t.Errorf("Measure: %+v, %v; want 8 for %s", got, err, key)
			}
		})
	}
}

// TestControlWeights pins what each construct adds to the control figure.
func TestControlWeights(t *testing.T) {
	for _, c := range []struct {
		name string
		wasm []byte
		want uint32
	}{
		{"block", code(blockOpen, end), 1},
		{"if", code(ifOpen, end), 2},
		{"if else", code(ifOpen, []byte{0x05}, end), 2},
		{"loop", code(loopOpen, end), 5},
		{"br", code(blockOpen, []byte{0x0C, 0}, end), 2},
		{"br_if", brIfs(3), 4},
		{"br_table", brTable(3), 5},
	} {
		l, err := Measure(c.wasm)
		if err != nil || l.Control != c.want {
			t.Errorf("%s: control %d (%v), want %d", c.name, l.Control, err, c.want)
		}
	}
}

// TestMalformed requires each malformation to be refused as ErrMalformed or
// ErrUnsupported, with the place named.
func TestMalformed(t *testing.T) {
	typeAndFunc := cat(section(wasmbin.SecType, vec(funcType0)), section(wasmbin.SecFunction, vec([]byte{0})))
	for _, c := range []struct {
		name string
		wasm []byte
		is   error
		want string
	}{
		{"bytes after the entries", module(section(wasmbin.SecType, vec(funcType0), []byte{0})), ErrMalformed,
			"type section: malformed wasm: 1 bytes after the end of the section"},
		{"bodies for no function", module(section(wasmbin.SecCode, vec(body(noLocals, end)))), ErrMalformed,
			"code section: 1 function bodies for 0 declared functions"},
		{"functions without code", module(typeAndFunc), ErrMalformed, "1 functions declared and no code section"},
		{"no final end", module(typeAndFunc, section(wasmbin.SecCode, vec(body(noLocals, []byte{0x01})))), ErrMalformed,
			"function[0]: malformed wasm: unexpected end of input"},
		{"code after the final end", funcs(body(noLocals, end, []byte{0x01})), ErrMalformed,
			"function[0]: malformed wasm: 1 bytes after the end of the function"},
		{"unknown opcode", code([]byte{0x06}), ErrUnsupported, "function[0]: unsupported wasm feature: opcode 0x6"},
		{"GC type", module(section(wasmbin.SecType, vec([]byte{0x5F, 0, 0}))), ErrUnsupported, "type section: type[0]: unsupported wasm feature: type form 0x5f"},
		{"64-bit memory", module(section(wasmbin.SecMemory, vec([]byte{0x04, 1}))), ErrUnsupported, "memory section: memory[0]: unsupported wasm feature: limits flags 0x4"},
		{"tag section", module(section(wasmbin.SecTag, vec([]byte{0, 0}))), ErrUnsupported, "tag section: unsupported wasm feature"},
		{"element flags", module(section(wasmbin.SecElement, vec([]byte{8, 0, 0}))), ErrMalformed, "element segment[0]: malformed wasm: element segment flags 8"},
		{"data mode", module(section(wasmbin.SecData, vec([]byte{3, 0}))), ErrMalformed, "data segment[0]: malformed wasm: data segment mode 3"},
		{"name subsection longer than its names", module(section(wasmbin.SecCustom, name("name"), []byte{1, 3}, vec(), []byte{0, 0})), ErrMalformed,
			"name subsection[1]: malformed wasm: 2 bytes after the end of the subsection"},
		{"name subsection shorter than its names", module(section(wasmbin.SecCustom, name("name"), []byte{1, 1}, leb(1), []byte{0, 0})), ErrMalformed,
			"name subsection[1]: malformed wasm: declares 1 names in 0 bytes"},
		{"two name sections", module(section(wasmbin.SecCustom, name("name")), section(wasmbin.SecCustom, name("name"))), ErrMalformed,
			"a second name section"},
	} {
		err := Check(c.wasm, Default)
		if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %v with %q", c.name, err, c.is, c.want)
		}
	}
}

// TestNotWasm leaves bytes that are not WebAssembly to the decoder, which
// says so in the words users search for.
func TestNotWasm(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("hello"), []byte("\x00asm\x02\x00\x00\x00")} {
		if err := Check(b, Default); err != nil {
			t.Errorf("Check(%q) = %v, want nil", b, err)
		}
	}
}

// TestValidModules requires every committed test module to pass: WAT
// guests, the rewriter's corpus (invalid on purpose ones included: they are
// well-formed) and an AssemblyScript guest.
func TestValidModules(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../testdata", "../wasmrewrite/testdata", "../wasmrewrite/testdata/assemblyscript", "../../../host/admin/testdata"} {
		f, _ := filepath.Glob(filepath.Join(dir, "*.wasm"))
		files = append(files, f...)
	}
	if len(files) < 30 {
		t.Fatalf("found %d test modules", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b, Default); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
