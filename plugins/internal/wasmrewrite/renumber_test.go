package wasmrewrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// The refuel import moves every defined function up by one. These tests run
// modules that name functions in every way the binary format allows on the
// original and the metered module, and require the same behaviour.

// outcome is what one call did: its results, or its error text.
type outcome struct {
	res []uint64
	err string
}

func (o outcome) String() string {
	if o.err != "" {
		return "error " + o.err
	}
	return fmt.Sprint(o.res)
}

// callOutcome calls an export with a budget large enough never to matter.
func callOutcome(tb testing.TB, m api.Module, name string, args ...uint64) outcome {
	tb.Helper()
	if f, err := NewFuel(m); err == nil {
		f.Set(1 << 40)
	}
	f := m.ExportedFunction(name)
	if f == nil {
		tb.Fatalf("no export %q", name)
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil {
		return outcome{err: err.Error()}
	}
	return outcome{res: res}
}

// instantiateEnv adds the "env" module renumber.wat imports: seven() = 7
// and add(a, b) = a + b.
func instantiateEnv(tb testing.TB, r wazero.Runtime) {
	tb.Helper()
	i32 := api.ValueTypeI32
	_, err := r.NewHostModuleBuilder("env").
		NewFunctionBuilder().WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
		stack[0] = 7
	}), nil, []api.ValueType{i32}).Export("seven").
		NewFunctionBuilder().WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
		stack[0] = uint64(uint32(stack[0]) + uint32(stack[1]))
	}), []api.ValueType{i32, i32}, []api.ValueType{i32}).Export("add").
		Instantiate(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
}

// renumberCalls are the calls made on testdata/renumber.wasm, with the
// original's results.
var renumberCalls = []struct {
	name string
	args []uint64
	want string
}{
	{"started", nil, "[1]"},
	{"calls", nil, "[67]"},
	{"table0", []uint64{0}, "[10]"},
	{"table0", []uint64{1}, "[20]"},
	{"table0", []uint64{2}, "[80]"},
	{"table0", []uint64{3}, "error"}, // ref.null
	{"table1", []uint64{0}, "[60]"},
	{"table1", []uint64{1}, "[30]"},
	{"init_pass", []uint64{0}, "[40]"},
	{"init_pass", []uint64{1}, "[50]"},
	{"init_passexpr", []uint64{0}, "[20]"},
	{"init_passexpr", []uint64{1}, "error"}, // ref.null
	{"init_passexpr", []uint64{2}, "[7]"},   // the import
	{"reffunc", []uint64{1}, "[70]"},
	{"reffunc", []uint64{0}, "[40]"},
	{"global", nil, "[30]"},
	{"seven", nil, "[7]"},
	{"f80", nil, "[80]"},
	{"trap", nil, "error"},
}

// withNames returns renumber.wasm with a name section (it has none of its
// own: wat2wasm writes one only with --debug-names, which the fixtures'
// drift test does not pass).
func withNames(tb testing.TB, wasm []byte) []byte {
	tb.Helper()
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := m.Count()
	if err != nil {
		tb.Fatal(err)
	}
	var funcs [][]byte
	for i := range c.Funcs {
		funcs = append(funcs, nameAssoc(i, fmt.Sprintf("fn%d", i)))
	}
	// Function 19 is $inner (param $depth), whose if is label 0.
	return append(slices.Clone(wasm), nameSection(
		nameSub(nameModuleName, name("renumber")),
		nameSub(nameFunctions, vec(funcs...)),
		nameSub(nameLocals, vec(indirect(12, nameAssoc(0, "i")), indirect(19, nameAssoc(0, "depth")))),
		nameSub(nameLabels, vec(indirect(19, nameAssoc(0, "then")))),
		nameSub(7, vec(nameAssoc(0, "started"))), // global names: kept as they are
	)...)
}

// TestMeterRenumber runs renumber.wasm (with a name section) on both
// engines, metered and not, and requires the same results and the same
// errors, wasm stack traces included: they name functions through the
// name section, so a name left at its old index would show.
func TestMeterRenumber(t *testing.T) {
	t.Parallel()
	orig := withNames(t, readTestdata(t, "renumber.wasm"))
	metered := mustMeter(t, orig, MeterOptions{})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			instantiateEnv(t, r)
			for _, c := range renumberCalls {
				om := instantiate(t, r, orig) // fresh: table.init and table.set change tables
				mm := instantiate(t, r, metered)
				want := callOutcome(t, om, c.name, c.args...)
				got := callOutcome(t, mm, c.name, c.args...)
				if got.String() != want.String() {
					t.Errorf("%s%v: metered %s, original %s", c.name, c.args, got, want)
				}
				if w := want.String(); !strings.HasPrefix(w, c.want) {
					t.Errorf("%s%v: original %s, want %s", c.name, c.args, w, c.want)
				}
			}
		})
	}
	// The stack trace of the trap names the functions it passed.
	r := newRuntime(t, engines[1].cfg())
	instantiateEnv(t, r)
	trap := callOutcome(t, instantiate(t, r, metered), "trap").err
	if !strings.Contains(trap, ".fn19(i32) i32") || !strings.Contains(trap, ".fn20() i32") {
		t.Errorf("trap's stack trace does not name fn19 and fn20:\n%s", trap)
	}
}

// TestMeterRenumberNames checks the metered module's name section as wazero
// reads it (function and parameter names), and the label names, which wazero
// does not read, byte by byte.
func TestMeterRenumberNames(t *testing.T) {
	t.Parallel()
	orig := withNames(t, readTestdata(t, "renumber.wasm"))
	metered := mustMeter(t, orig, MeterOptions{})
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	oc, err := r.CompileModule(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := r.CompileModule(ctx, metered)
	if err != nil {
		t.Fatal(err)
	}
	if got := mc.Name(); got != "renumber" {
		t.Errorf("module name %q, want renumber", got)
	}
	oe, me := oc.ExportedFunctions(), mc.ExportedFunctions()
	for name, o := range oe {
		m := me[name]
		if m.Name() != o.Name() || !slices.Equal(m.ParamNames(), o.ParamNames()) {
			t.Errorf("export %s: metered %s%q, original %s%q", name, m.Name(), m.ParamNames(), o.Name(), o.ParamNames())
		}
		if o.Index() >= 2 && m.Index() != o.Index()+1 {
			t.Errorf("export %s: index %d metered, %d original", name, m.Index(), o.Index())
		}
	}
	if got := me["table0"].ParamNames(); !slices.Equal(got, []string{"i"}) {
		t.Errorf("table0's parameter names %q, want [i]", got)
	}
	imports := mc.ImportedFunctions()
	last := imports[len(imports)-1]
	if mod, name, _ := last.Import(); mod != MeterModule || name != RefuelFunc || len(imports) != 3 {
		t.Errorf("last of %d imports is %s.%s, want %s.%s", len(imports), mod, name, MeterModule, RefuelFunc)
	}
	// Labels: function 19 became 20.
	subs := nameSubsections(t, metered)
	want := vec(indirect(20, nameAssoc(0, "then")))
	if !slices.Equal(subs[nameLabels], want) {
		t.Errorf("label names % x, want % x", subs[nameLabels], want)
	}
	if got, want := subs[7], vec(nameAssoc(0, "started")); !slices.Equal(got, want) {
		t.Errorf("global names % x, want them unchanged, % x", got, want)
	}
}

// TestRenumberNamesDropsUndecodable: a function-keyed subsection that does
// not decode is dropped, the others are kept, and custom sections other than
// "name" are not touched.
func TestRenumberNamesDropsUndecodable(t *testing.T) {
	t.Parallel()
	fn := funcMap{refuel: 1, funcs: 3}
	good := nameSub(nameFunctions, vec(nameAssoc(0, "imp"), nameAssoc(2, "two")))
	bad := nameSub(nameLocals, []byte{0x05, 0x01}) // claims 5 entries
	other := nameSub(4, vec(nameAssoc(0, "type0")))
	in := nameSection(good, bad, other)[2:] // the payload: without id and size
	got := renumberNames(in, fn)
	want := nameSection(nameSub(nameFunctions, vec(nameAssoc(0, "imp"), nameAssoc(3, "two"))), other)[2:]
	if !slices.Equal(got, want) {
		t.Errorf("got  % x\nwant % x", got, want)
	}
	producers := append(name("producers"), 1, 2, 3)
	if got := renumberNames(producers, fn); !slices.Equal(got, producers) {
		t.Errorf("producers section changed: % x", got)
	}
}

// TestMeterRenumberWideIndices meters a module of 200 defined functions
// behind one import, so that indices 127 and 128 cross the one-byte LEB128
// width when moved up: in calls, in an element segment and in an export.
func TestMeterRenumberWideIndices(t *testing.T) {
	t.Parallel()
	const n = 200
	// Type 0: () -> i32; type 1: (i32) -> i32. Import env.seven (func 0);
	// func 1+k returns the depth of the call chain below it: func 1+k calls
	// func 2+k and adds one, the last returns 0. "ind" calls table[i].
	var funcs, bodies, elems [][]byte
	for k := range n {
		funcs = append(funcs, u32(0))
		elems = append(elems, u32(uint32(1+k)))
		if k == n-1 {
			bodies = append(bodies, body(wasmbin.OpI32Const, 0))
			continue
		}
		bodies = append(bodies, body(append(append([]byte{wasmbin.OpCall}, u32(uint32(2+k))...), wasmbin.OpI32Const, 1, 0x6A)...)) // i32.add
	}
	funcs = append(funcs, u32(1))
	bodies = append(bodies, body(wasmbin.OpLocalGet, 0, wasmbin.OpCallIndirect, 0, 0))
	elem := append([]byte{0x00, wasmbin.OpI32Const, 0, wasmbin.OpEnd}, vec(elems...)...)
	wasm := module(
		section(wasmbin.SecType, []byte{0x60, 0, 1, 0x7F}, []byte{0x60, 1, 0x7F, 1, 0x7F}),
		section(wasmbin.SecImport, slices.Concat(name("env"), name("seven"), []byte{wasmbin.ExternFunc, 0})),
		section(wasmbin.SecFunction, funcs...),
		section(wasmbin.SecTable, append([]byte{0x70, 0x00}, u32(n)...)),
		section(wasmbin.SecExport,
			slices.Concat(name("run"), []byte{wasmbin.ExternFunc}, u32(1)),
			slices.Concat(name("f127"), []byte{wasmbin.ExternFunc}, u32(127)),
			slices.Concat(name("ind"), []byte{wasmbin.ExternFunc}, u32(n+1))),
		section(wasmbin.SecElement, elem),
		section(wasmbin.SecCode, bodies...),
	)
	metered := mustMeter(t, wasm, MeterOptions{})
	r := newRuntime(t, engines[1].cfg())
	instantiateEnv(t, r)
	om, mm := instantiate(t, r, wasm), instantiate(t, r, metered)
	for _, c := range []struct {
		name string
		args []uint64
	}{{"run", nil}, {"f127", nil}, {"ind", []uint64{0}}, {"ind", []uint64{126}}, {"ind", []uint64{127}}, {"ind", []uint64{199}}} {
		want, got := callOutcome(t, om, c.name, c.args...), callOutcome(t, mm, c.name, c.args...)
		if got.String() != want.String() || want.err != "" {
			t.Errorf("%s%v: metered %s, original %s", c.name, c.args, got, want)
		}
	}
}

// TestMeterRenumberTailCalls: return_call of a defined and of an imported
// function (tail calls are not in wat2wasm's default features, so the module
// is written byte by byte).
func TestMeterRenumberTailCalls(t *testing.T) {
	t.Parallel()
	wasm := module(
		section(wasmbin.SecType, []byte{0x60, 0, 1, 0x7F}),
		section(wasmbin.SecImport, slices.Concat(name("env"), name("seven"), []byte{wasmbin.ExternFunc, 0})),
		section(wasmbin.SecFunction, u32(0), u32(0), u32(0)),
		section(wasmbin.SecExport,
			slices.Concat(name("tail"), []byte{wasmbin.ExternFunc}, u32(2)),
			slices.Concat(name("tail_import"), []byte{wasmbin.ExternFunc}, u32(3))),
		section(wasmbin.SecCode,
			body(wasmbin.OpI32Const, 41),   // func 1
			body(wasmbin.OpReturnCall, 1),  // func 2: return_call 1
			body(wasmbin.OpReturnCall, 0)), // func 3: return_call 0, the import
	)
	metered, err := Meter(wasm, MeterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg().WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall))
			instantiateEnv(t, r)
			om, mm := instantiate(t, r, wasm), instantiate(t, r, metered)
			for _, name := range []string{"tail", "tail_import"} {
				want, got := callOutcome(t, om, name), callOutcome(t, mm, name)
				if got.String() != want.String() || want.err != "" {
					t.Errorf("%s: metered %s, original %s", name, got, want)
				}
			}
		})
	}
}

// TestMeterRenumberRefusesForgedIndices: an invalid module that names a
// function past its own outside code (export, start, element, global) would,
// once renumbered, name the refuel import or a helper. Meter refuses it, as
// planBody refuses code that does.
func TestMeterRenumberRefusesForgedIndices(t *testing.T) {
	t.Parallel()
	typ := section(wasmbin.SecType, []byte{0x60, 0, 0})
	fn := section(wasmbin.SecFunction, u32(0))
	code := section(wasmbin.SecCode, body())
	table := section(wasmbin.SecTable, []byte{0x70, 0x00, 1})
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"export", module(typ, fn, section(wasmbin.SecExport, slices.Concat(name("x"), []byte{wasmbin.ExternFunc}, u32(1))), code)},
		{"start", module(typ, fn, wasmbin.Section{ID: wasmbin.SecStart, Data: u32(1)}, code)},
		{"element", module(typ, fn, table, section(wasmbin.SecElement, []byte{0x00, wasmbin.OpI32Const, 0, wasmbin.OpEnd, 1, 1}), code)},
		{"element expression", module(typ, fn, table, section(wasmbin.SecElement, []byte{0x04, wasmbin.OpI32Const, 0, wasmbin.OpEnd, 1, opRefFunc, 1, wasmbin.OpEnd}), code)},
		{"global", module(typ, fn, section(wasmbin.SecGlobal, []byte{0x70, 0x00, opRefFunc, 1, wasmbin.OpEnd}), code)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Meter(tc.wasm, MeterOptions{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "func[1], past the module's 1 functions") {
				t.Fatalf("got %v, want ErrMalformed naming func[1]", err)
			}
		})
	}
}

// TestMeterRefusesForgedTypes: an invalid module that names a type past its
// own would, once metered, name the type Meter appends for refuel (or for its
// helpers) and become valid. Meter refuses it.
func TestMeterRefusesForgedTypes(t *testing.T) {
	t.Parallel()
	typ := section(wasmbin.SecType, []byte{0x60, 0, 0})
	fn := section(wasmbin.SecFunction, u32(0))
	for _, tc := range []struct {
		name string
		wasm []byte
		want string
	}{
		{"function", module(typ, section(wasmbin.SecFunction, u32(1)), section(wasmbin.SecCode, body())), "has type[1], past the module's 1 types"},
		{"import", module(typ, section(wasmbin.SecImport, slices.Concat(name("env"), name("f"), []byte{wasmbin.ExternFunc, 1}))), "import[0] has type[1]"},
		{"call_indirect", module(typ, fn, section(wasmbin.SecTable, []byte{0x70, 0, 1}),
			section(wasmbin.SecCode, body(wasmbin.OpI32Const, 0, wasmbin.OpCallIndirect, 1, 0))), "type[1] is past the module's 1 types"},
		{"block type", module(typ, fn, section(wasmbin.SecCode, body(wasmbin.OpBlock, 1, wasmbin.OpEnd))), "block type at offset 0 names a type past the module's 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Meter(tc.wasm, MeterOptions{})
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformed with %q", err, tc.want)
			}
		})
	}
}

// Helpers to write modules and name sections byte by byte.

func u32(v uint32) []byte { return wasmbin.AppendU32(nil, v) }

func name(s string) []byte { return append(u32(uint32(len(s))), s...) }

func vec(items ...[]byte) []byte {
	return slices.Concat(append([][]byte{u32(uint32(len(items)))}, items...)...)
}

// section returns a known section whose payload is the vector of items.
func section(id byte, items ...[]byte) wasmbin.Section {
	return wasmbin.Section{ID: id, Data: vec(items...)}
}

// body returns a function body without locals: code and the final end.
func body(code ...byte) []byte {
	b := slices.Concat([]byte{0}, code, []byte{wasmbin.OpEnd})
	return append(u32(uint32(len(b))), b...)
}

const nameModuleName = 0

func nameAssoc(idx uint32, s string) []byte { return append(u32(idx), name(s)...) }

func indirect(idx uint32, assocs ...[]byte) []byte { return append(u32(idx), vec(assocs...)...) }

func nameSub(id byte, payload []byte) []byte {
	return slices.Concat([]byte{id}, u32(uint32(len(payload))), payload)
}

// nameSection returns the custom section "name" with the given subsections.
func nameSection(subs ...[]byte) []byte {
	payload := slices.Concat(append([][]byte{name("name")}, subs...)...)
	return slices.Concat([]byte{wasmbin.SecCustom}, u32(uint32(len(payload))), payload)
}

// nameSubsections returns the payloads of the name section's subsections.
func nameSubsections(tb testing.TB, wasm []byte) map[byte][]byte {
	tb.Helper()
	m, err := wasmbin.Parse(wasm)
	if err != nil {
		tb.Fatal(err)
	}
	subs := map[byte][]byte{}
	for _, s := range m.Sections {
		r := wasmbin.NewReader(s.Data)
		if n, err := r.Name(); s.ID != wasmbin.SecCustom || err != nil || string(n) != "name" {
			continue
		}
		for r.Len() > 0 {
			id, _ := r.Byte()
			size, _ := r.U32()
			b, err := r.Next(int(size))
			if err != nil {
				tb.Fatal(err)
			}
			subs[id] = b
		}
	}
	return subs
}
