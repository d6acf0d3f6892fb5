package wasmcheck

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

var update = flag.Bool("update", false, "rewrite plugins/testdata/attacks/*.wasm")

// attacksDir holds the attacks as files, for the tests of the sandbox and the
// admin API, the fuzzers' seeds, and anyone who wants to try one on a server.
var attacksDir = filepath.Join("..", "..", "testdata", "attacks")

// max32 is the largest count a 5-byte LEB128 holds.
var max32 = leb(1<<32 - 1)

// attacks are hostile uploads. Before Check, the first fifteen made wazero's
// decoder allocate 4 to 481 GB (the process died of most), and the last five
// made it compile for seconds to minutes, allocate a gigabyte per instance or
// let the guest grow a table outside its memory cap.
var attacks = []struct {
	name string
	wasm []byte
	want string // in Check's error
}{
	// Counts a decoder preallocates from.
	{"element_segments", module(section(wasmbin.SecElement, max32, []byte{0})),
		"element section: malformed wasm: declares 4294967295 element segments in 1 bytes"},
	{"element_items", module(section(wasmbin.SecElement, leb(1), []byte{0}, i32Const0, end, max32)),
		"element section: element segment[0]: malformed wasm: declares 4294967295 items in 0 bytes"},
	{"imports", module(section(wasmbin.SecImport, max32, []byte{0})),
		"import section: malformed wasm: declares 4294967295 imports in 1 bytes"},
	{"tables", module(section(wasmbin.SecTable, max32, []byte{0})),
		"table section: malformed wasm: declares 4294967295 tables in 1 bytes"},
	{"globals", module(section(wasmbin.SecGlobal, max32, []byte{0})),
		"global section: malformed wasm: declares 4294967295 globals in 1 bytes"},
	{"exports", module(section(wasmbin.SecExport, max32, []byte{0})),
		"export section: malformed wasm: declares 4294967295 exports in 1 bytes"},
	{"code_bodies", module(section(wasmbin.SecCode, max32, []byte{0})),
		"code section: malformed wasm: declares 4294967295 function bodies in 1 bytes"},
	{"data_segments", module(section(wasmbin.SecData, max32, []byte{0})),
		"data section: malformed wasm: declares 4294967295 data segments in 1 bytes"},
	{"params", module(section(wasmbin.SecType, leb(1), []byte{0x60}, max32, []byte{0x7F})),
		"type section: type[0]: malformed wasm: declares 4294967295 parameters in 1 bytes"},
	{"functions", module(section(wasmbin.SecType, vec(funcType0)), section(wasmbin.SecFunction, max32, []byte{0})),
		"function section: malformed wasm: declares 4294967295 functions in 1 bytes"},
	{"locals", funcs(body(cat(leb(1), max32, []byte{0x7F}), end)),
		"function[0] declares 4294967295 locals; the limit is 50000 (max_locals)"},
	{"import_name", module(section(wasmbin.SecImport, leb(1), max32, []byte("env"))),
		"import section: import[0]: malformed wasm: unexpected end of input reading 4294967295 bytes at offset 6"},
	{"data_bytes", module(section(wasmbin.SecData, leb(1), []byte{1}, max32, []byte{0})),
		"data section: data segment[0]: malformed wasm: unexpected end of input reading 4294967295 bytes at offset 7"},
	{"function_names", module(section(wasmbin.SecCustom, name("name"), []byte{1, 6}, max32, []byte{0})),
		"custom section: name subsection[1]: malformed wasm: declares 4294967295 names in 1 bytes"},
	{"custom_size", cat(header, []byte{0}, max32, name("data")),
		"malformed wasm: section[0] of 4294967295 bytes runs past the end"},

	// Shapes that are costly for the compiler or at every instantiation.
	{"nesting", nested(blockOpen, 50_000), // the module: 31 s to compile
		"function[0] nests blocks 50000 deep; the limit is 5000 (max_nesting_depth)"},
	{"br_if_chain", brIfs(30_000), // 11 s
		"function[0] has control flow of weight 30001 (blocks and branch targets 1, ifs 2, loops 5); the limit is 10000 (max_control)"},
	{"br_table", brTable(100_000), // 2 s and 265 MB; a million labels took 4.7 min and 2.7 GB
		"function[0] has control flow of weight 100002 (blocks and branch targets 1, ifs 2, loops 5); the limit is 10000 (max_control)"},
	{"table_size", module(section(wasmbin.SecTable, vec(cat([]byte{0x70, 0}, leb(1<<27))))), // 1 GiB per instance
		"table section: table[0] brings the tables to 134217728 initial elements; the limit is 100000 (max_table_elements)"},
	{"table_grow", module(
		section(wasmbin.SecType, vec(funcType0)),
		section(wasmbin.SecFunction, vec([]byte{0})),
		section(wasmbin.SecTable, vec([]byte{0x70, 0, 0})),
		section(wasmbin.SecCode, vec(body(noLocals, []byte{0xD0, 0x70}, i32Const0, []byte{0xFC, 15, 0, 0x1A}, end)))),
		"function[0] grows a table (table.grow) while the tables may reach 4294967296 elements; declare their maximum; the limit is 100000 (max_table_elements)"},
}

// TestAttacks requires Check to refuse every attack with its message, and the
// committed files to be the attacks (go test -run TestAttacks -update
// rewrites them).
func TestAttacks(t *testing.T) {
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			err := Check(a.wasm, Default)
			if err == nil || err.Error() != a.want {
				t.Errorf("Check: %v\nwant:   %s", err, a.want)
			}
			var le *LimitError
			if !errors.As(err, &le) && !errors.Is(err, ErrMalformed) {
				t.Errorf("Check: %v is neither a *LimitError nor ErrMalformed", err)
			}
			path := filepath.Join(attacksDir, a.name+".wasm")
			if *update {
				if err := os.WriteFile(path, a.wasm, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, a.wasm) {
				t.Errorf("%s is not this attack (%v); rewrite it with go test -run TestAttacks -update", path, err)
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join(attacksDir, "*.wasm"))
	if len(files) != len(attacks) {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = strings.TrimSuffix(filepath.Base(f), ".wasm")
		}
		t.Errorf("%s holds %v: one file per attack, no other", attacksDir, names)
	}
}
