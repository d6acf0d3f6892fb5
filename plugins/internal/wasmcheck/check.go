// Package wasmcheck checks the structure of an uploaded WebAssembly module
// before anything that trusts the module decodes it.
//
// wazero's decoder preallocates from the counts a module declares, so twenty
// bytes that declare four billion element segments make it ask for hundreds
// of gigabytes, and its compiler takes time quadratic in the blocks and
// branches of one function. Check refuses both kinds of module in time linear
// in the module's size, without allocating from any count:
//
//   - every count is checked against the bytes left in its section (every
//     entry takes at least one byte), every entry is decoded to its end, and
//     every section and function body must be consumed exactly, so a strict
//     decoder reads from an accepted module what Check read;
//   - Limits bound what costs a decoder memory per entry and the compiler
//     time per function (docs/sandbox.md, "Limits and errors").
//
// It knows WebAssembly 2.0 with SIMD and threads' atomics, what imhook runs,
// and refuses other features with an error wrapping ErrUnsupported.
package wasmcheck

import (
	"fmt"
	"strconv"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// ErrMalformed is wrapped by the error for bytes that are not a well-formed
// module: a count larger than its section, a truncated entry, trailing bytes.
var ErrMalformed = wasmbin.ErrMalformed

// ErrUnsupported is wrapped by the error for a well-formed module that uses a
// feature imhook does not run (exception handling, GC, 64-bit memories).
var ErrUnsupported = wasmbin.ErrUnsupported

// Limits bounds the structure of a module. Each field is named in errors by
// its key, given in its comment.
type Limits struct {
	// Functions bounds the functions, imported and defined (max_functions).
	Functions uint32
	// Entries bounds the entries of every other section: types, imports,
	// tables, globals, exports, element segments and their items, data
	// segments, and the names of the name section (max_section_entries).
	Entries uint32
	// TableElements bounds the elements of the module's tables together: the
	// sum of their initial sizes and, when the module's code grows a table,
	// of their maximum sizes (max_table_elements).
	TableElements uint32
	// Params bounds the parameters, and separately the results, of a type
	// (max_params).
	Params uint32

	// FunctionBytes bounds the size of one function body (max_function_bytes).
	FunctionBytes uint32
	// Locals bounds the locals one function declares, parameters excluded
	// (max_locals).
	Locals uint32
	// Nesting bounds the blocks, loops and ifs open at once in one function
	// (max_nesting_depth).
	Nesting uint32
	// Control bounds the control flow of one function, the figure wazero's
	// compiler takes time quadratic in: a block, a br or br_if and each
	// label of a br_table count 1, an if 2 (its two arms), a loop 5 (with
	// the instruction budget's check that metering adds to it)
	// (max_control).
	Control uint32
}

// Default is the limits imhook enforces. The examples under examples/ (Go
// SDK plugins of 2.2-2.8 MB) reach at most an eighth of each but the section
// entries (Go's linker itself stops at 100,000 data segments); the numbers
// and the compile times that chose them are in docs/sandbox.md.
var Default = Limits{
	Functions:     100_000,
	Entries:       100_000,
	TableElements: 100_000,
	Params:        1_000,
	FunctionBytes: 1 << 20,
	Locals:        50_000,
	Nesting:       5_000,
	Control:       10_000,
}

// LimitError is the error for a module that exceeds one of the Limits.
type LimitError struct {
	// Limit is the key of the limit, such as "max_nesting_depth", Max its
	// value and Value the module's figure.
	Limit string
	Max   uint32
	Value uint64
	msg   string // what is over the limit, such as "function[12] nests blocks 5001 deep"
}

// Error implements error:
//
//	function[12] nests blocks 5001 deep; the limit is 5000 (max_nesting_depth)
func (e *LimitError) Error() string {
	return e.msg + "; the limit is " + strconv.FormatUint(uint64(e.Max), 10) + " (" + e.Limit + ")"
}

// limit is one field of Limits and its key.
type limit struct {
	key   string
	field func(*Limits) *uint32
}

var (
	limFunctions     = limit{"max_functions", func(l *Limits) *uint32 { return &l.Functions }}
	limEntries       = limit{"max_section_entries", func(l *Limits) *uint32 { return &l.Entries }}
	limTableElements = limit{"max_table_elements", func(l *Limits) *uint32 { return &l.TableElements }}
	limParams        = limit{"max_params", func(l *Limits) *uint32 { return &l.Params }}
	limFunctionBytes = limit{"max_function_bytes", func(l *Limits) *uint32 { return &l.FunctionBytes }}
	limLocals        = limit{"max_locals", func(l *Limits) *uint32 { return &l.Locals }}
	limNesting       = limit{"max_nesting_depth", func(l *Limits) *uint32 { return &l.Nesting }}
	limControl       = limit{"max_control", func(l *Limits) *uint32 { return &l.Control }}
)

// figure records v as the module's figure for lim and refuses it when it is
// over the limit; format says what v is, as in "nests blocks %d deep".
func (c *checker) figure(v uint64, lim limit, format string) error {
	if f := lim.field(&c.seen); v > uint64(*f) {
		*f = uint32(min(v, 1<<32-1))
	}
	if c.lim == nil || v <= uint64(*lim.field(c.lim)) {
		return nil
	}
	max := *lim.field(c.lim)
	return &LimitError{Limit: lim.key, Max: max, Value: v, msg: fmt.Sprintf(format, v)}
}

// Check checks wasm against lim. It returns nil, or the first problem found:
// a *LimitError, or an error wrapping ErrMalformed or ErrUnsupported.
//
// Bytes that do not start with the header of WebAssembly 1.0 pass: any
// decoder refuses them before reading further, and says so in the words
// users know ("invalid magic number").
func Check(wasm []byte, lim Limits) error {
	_, err := check(wasm, &lim)
	return err
}

// Measure returns the smallest Limits a module passes: its largest figure
// for each limit. It checks everything Check does except the limits.
func Measure(wasm []byte) (Limits, error) {
	return check(wasm, nil)
}
