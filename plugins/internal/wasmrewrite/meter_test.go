package wasmrewrite

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite/wasmbin"
)

// corpusCalls are the calls made on testdata/corpus.wasm, in order (some
// change memory or a global, so order matters).
var corpusCalls = []struct {
	name string
	args []uint64
}{
	{"straight", nil},
	{"sum", []uint64{0}},
	{"sum", []uint64{1000}},
	{"fib", []uint64{20}},
	{"dispatch", []uint64{0}},
	{"dispatch", []uint64{1}},
	{"dispatch", []uint64{2}},
	{"dispatch", []uint64{3}},
	{"dispatch", []uint64{99}},
	{"fold", []uint64{0, 100}},
	{"fold", []uint64{1, 10}},
	{"fold", []uint64{2, 7}},
	{"collatz", []uint64{27}},
	{"collatz", []uint64{97}},
	{"swapsub", []uint64{10, 3}},
	{"countdown", []uint64{25}},
	{"find", []uint64{391}},
	{"find", []uint64{100000}},
	{"bulk", []uint64{0}},
	{"bulk", []uint64{3000}},
	{"grow", []uint64{2}},
	{"grow", []uint64{0}},
	{"mixed", []uint64{0x80}},
	{"mixed", []uint64{0}},
	{"counter", nil},
}

// TestMeterCorpus runs every corpus call on the original and the metered
// module and requires equal results, a positive count, and the same count
// when the same call is repeated on a fresh instance.
func TestMeterCorpus(t *testing.T) {
	t.Parallel()
	orig := readTestdata(t, "corpus.wasm")
	metered := mustMeter(t, orig, MeterOptions{})
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			om := instantiate(t, r, orig)
			mm := instantiate(t, r, metered)
			again := instantiate(t, r, metered)
			fuel, err := NewFuel(mm)
			if err != nil {
				t.Fatal(err)
			}
			fuelAgain, err := NewFuel(again)
			if err != nil {
				t.Fatal(err)
			}
			const budget = 1 << 40
			for _, c := range corpusCalls {
				want := call(t, om, c.name, c.args...)
				fuel.Set(budget)
				got := call(t, mm, c.name, c.args...)
				if !slices.Equal(got, want) {
					t.Errorf("%s%v = %v metered, %v original", c.name, c.args, got, want)
				}
				used := fuel.Used(budget)
				if used == 0 {
					t.Errorf("%s%v used no fuel", c.name, c.args)
				}
				fuelAgain.Set(budget)
				call(t, again, c.name, c.args...)
				if u := fuelAgain.Used(budget); u != used {
					t.Errorf("%s%v used %d then %d: not deterministic", c.name, c.args, used, u)
				}
			}
		})
	}
}

// TestMeterCounts pins the cost model on small functions: one per
// instruction, loops charged per iteration, bulk memory per 16 bytes.
func TestMeterCounts(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, readTestdata(t, "corpus.wasm"), MeterOptions{})
	r := newRuntime(t, engines[1].cfg())
	m := instantiate(t, r, metered)
	fuel, err := NewFuel(m)
	if err != nil {
		t.Fatal(err)
	}
	used := func(name string, args ...uint64) uint64 {
		fuel.Set(math.MaxInt64)
		call(t, m, name, args...)
		return fuel.Used(math.MaxInt64)
	}
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		// i32.const, i32.const, i32.add, end.
		{"straight", used("straight"), 4},
		// The loop body is 14 instructions, its end included.
		{"sum per iteration", used("sum", 11) - used("sum", 10), 14},
		{"sum linear", used("sum", 100) - used("sum", 0), 1400},
		// memory.fill and the second memory.copy cost n>>4 more, and the
		// checksum loop 17 per byte.
		{"bulk per 160 bytes", used("bulk", 160) - used("bulk", 0), 2*(160>>4) + 160*17},
		// Seven instructions, and memory.grow costs 1000 on top of its 1.
		{"grow", used("grow", 0), 7 + 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("used %d, want %d", tc.got, tc.want)
			}
		})
	}
}

// TestMeterStopsRunaways checks that infinite loops, unbounded recursion and
// endless bulk memory stop at the budget with a recognisable error, and that
// a trap of another kind is not mistaken for running out of fuel.
func TestMeterStopsRunaways(t *testing.T) {
	t.Parallel()
	metered := mustMeter(t, readTestdata(t, "runaway.wasm"), MeterOptions{})
	tests := []struct {
		name      string
		export    string
		args      []uint64
		budget    uint64
		exhausted bool
	}{
		{"infinite loop", "spin", nil, 1_000_000, true},
		{"deep recursion", "down", []uint64{0}, 5_000, true}, // the interpreter overflows at 2000 frames
		{"endless memory.fill", "fill", nil, 1_000_000, true},
		// With no practical budget wazero's stack limit stops the
		// recursion first: a trap, but not out of fuel.
		{"stack overflow is not fuel", "down", []uint64{0}, math.MaxInt64, false},
	}
	for _, e := range engines {
		for _, tc := range tests {
			t.Run(e.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				r := newRuntime(t, e.cfg())
				m := instantiate(t, r, metered)
				fuel, err := NewFuel(m)
				if err != nil {
					t.Fatal(err)
				}
				fuel.Set(tc.budget)
				_, err = m.ExportedFunction(tc.export).Call(context.Background(), tc.args...)
				if err == nil {
					t.Fatal("call returned without error")
				}
				if got := fuel.Exhausted(err); got != tc.exhausted {
					t.Fatalf("Exhausted = %v, want %v (err %v, remaining %d)", got, tc.exhausted, err, fuel.Remaining())
				}
				if got := IsOutOfFuel(m, err); got != tc.exhausted {
					t.Errorf("IsOutOfFuel = %v, want %v", got, tc.exhausted)
				}
				if tc.exhausted {
					if used := fuel.Used(tc.budget); used <= tc.budget || used > tc.budget+100_000 {
						t.Errorf("used %d of %d: want just over the budget", used, tc.budget)
					}
				}
			})
		}
	}
}

// TestMeterBusyStart checks that an _initialize or start function that never
// returns is stopped by the start budget.
func TestMeterBusyStart(t *testing.T) {
	t.Parallel()
	opt := MeterOptions{StartFuel: 1_000_000}
	initMod := mustMeter(t, readTestdata(t, "busy_init.wasm"), opt)
	startMod := mustMeter(t, readTestdata(t, "busy_start.wasm"), opt)
	ctx := context.Background()
	for _, e := range engines {
		t.Run(e.name+"/wazero runs _initialize", func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			c, err := r.CompileModule(ctx, initMod)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
			if !errors.Is(err, errOutOfFuel) {
				t.Fatalf("instantiate: got %v, want refuel to stop it", err)
			}
		})
		t.Run(e.name+"/host runs _initialize", func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			m := instantiate(t, r, initMod) // no start functions
			if err := SetFuel(m, 5000); err != nil {
				t.Fatal(err)
			}
			_, err := m.ExportedFunction("_initialize").Call(ctx)
			if !IsOutOfFuel(m, err) {
				t.Fatalf("_initialize: got %v, remaining %d; want out of fuel", err, FuelUsed(m, 5000))
			}
		})
		t.Run(e.name+"/start section", func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t, e.cfg())
			_, err := r.Instantiate(ctx, startMod)
			if !errors.Is(err, errOutOfFuel) {
				t.Fatalf("instantiate: got %v, want refuel to stop it", err)
			}
		})
	}
}

// TestMeterDeterministic checks that the same input gives the same bytes.
func TestMeterDeterministic(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"corpus.wasm", "runaway.wasm", "busy_init.wasm", "busy_start.wasm"} {
		in := readTestdata(t, name)
		a, err := Meter(in, MeterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Meter(slices.Clone(in), MeterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) {
			t.Errorf("%s: two runs differ", name)
		}
	}
}

// TestMeterErrors checks the refusals.
func TestMeterErrors(t *testing.T) {
	t.Parallel()
	metered, err := Meter(readTestdata(t, "busy_start.wasm"), MeterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		wasm []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrMalformed, "malformed wasm: not a wasm 1.0 binary (bad magic or version)"},
		{"truncated", readTestdata(t, "corpus.wasm")[:100], ErrMalformed, ""},
		{"metered twice", metered, ErrUnsupported, `unsupported wasm feature: module already exports "imhook_fuel" (metered twice?)`},
		{"imports from imhook_meter", []byte("\x00asm\x01\x00\x00\x00" +
			"\x01\x04\x01\x60\x00\x00" + // type () -> ()
			"\x02\x12\x01\x0cimhook_meter\x01x\x00\x00"), // import imhook_meter.x
			ErrUnsupported, "unsupported wasm feature: module already imports imhook_meter.x (metered twice?)"},
		{"exception handling", []byte("\x00asm\x01\x00\x00\x00" +
			"\x01\x04\x01\x60\x00\x00" + // type () -> ()
			"\x03\x02\x01\x00" + // one function
			"\x0a\x06\x01\x04\x00\x06\x40\x0b"), // body: try (0x06) ...
			ErrUnsupported, "func[0]: unsupported wasm feature: opcode 0x6 at offset 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Meter(tc.wasm, MeterOptions{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
		})
	}
}

// TestMeterMinimal meters modules without code, globals or exports: the
// sections the rewriter appends to are created in their required places.
func TestMeterMinimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wasm string
	}{
		{"empty", "\x00asm\x01\x00\x00\x00"},
		{"custom section only", "\x00asm\x01\x00\x00\x00\x00\x05\x04note"},
		{"imported global", "\x00asm\x01\x00\x00\x00" +
			"\x02\x08\x01\x01e\x01g\x03\x7e\x00"}, // import e.g: i64, immutable
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := mustMeter(t, []byte(tc.wasm), MeterOptions{StartFuel: 42})
			ctx := context.Background()
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			instantiateMeter(t, r)
			if strings.Contains(tc.name, "imported") {
				// Provide e.g by instantiating a tiny module that exports it.
				provider := "\x00asm\x01\x00\x00\x00\x06\x06\x01\x7e\x00\x42\x07\x0b\x07\x05\x01\x01g\x03\x00"
				if _, err := r.InstantiateWithConfig(ctx, []byte(provider), wazero.NewModuleConfig().WithName("e")); err != nil {
					t.Fatal(err)
				}
			}
			m, err := r.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewFuel(m)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Remaining(); got != 42 {
				t.Errorf("fuel %d, want 42", got)
			}
		})
	}
}

// TestMeterRefusesForgedFuel: an invalid module that names a global or a
// function index past its own would, once metered, address the appended fuel
// global or a helper, and refill its own budget. Meter must refuse it as
// malformed rather than make it valid.
func TestMeterRefusesForgedFuel(t *testing.T) {
	t.Parallel()
	_, err := Meter(readTestdata(t, "forged_fuel.wasm"), MeterOptions{})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "global[0]") {
		t.Fatalf("Meter(forged_fuel) = %v, want ErrMalformed naming global[0]", err)
	}
	p, err := Prepare(readTestdata(t, "forged_fuel.wasm"), MeterOptions{})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Prepare(forged_fuel) = %+v, %v, want ErrMalformed", p, err)
	}
}

// TestMeterWrapsLoops pins the shape of a wrapped loop (wrapLoop): a loop
// without parameters checks its fuel with br_if out of itself and calls
// refuel outside, handing the header's cost back before re-entering; a loop
// whose block type is a type index keeps the inline call. Behaviour is
// covered by every other test (and FuzzMeter); this one shows the bytes.
func TestMeterWrapsLoops(t *testing.T) {
	t.Parallel()
	wasm := module(
		section(wasmbin.SecType, []byte{0x60, 0, 0}, []byte{0x60, 1, 0x7F, 1, 0x7F}),
		section(wasmbin.SecFunction, u32(0), u32(1)),
		section(wasmbin.SecCode,
			body(wasmbin.OpLoop, wasmbin.BlockEmpty, wasmbin.OpEnd),           // loop end
			body(wasmbin.OpLocalGet, 0, wasmbin.OpLoop, 0x01, wasmbin.OpEnd)), // local.get 0; loop (type 1) end
	)
	out := mustMeter(t, wasm, MeterOptions{})
	m, err := wasmbin.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := wasmbin.Bodies(m.Section(wasmbin.SecCode))
	if err != nil {
		t.Fatal(err)
	}
	const fuel, stack, refuel = 0, 1, 0 // the module's first globals, its first import
	const units = 3                     // frameUnits(0, 0, 3)
	wrapped := slices.Concat(
		[]byte{0x23, stack, 0x41, units, 0x6B, 0x24, stack},        // stack -= units
		[]byte{0x23, stack, 0x41, 0, 0x48, 0x04, 0x40, 0x00, 0x0B}, // if stack < 0 { unreachable }
		[]byte{0x02, 0x40}, // block (the function's body)
		[]byte{0x23, fuel, 0x42, 2, 0x7D, 0x24, fuel},               // entry: fuel -= 2 (loop, end), no check
		[]byte{0x02, 0x40, 0x03, 0x40, 0x02, 0x40, 0x03, 0x40},      // block loop block loop
		[]byte{0x23, fuel, 0x42, 1, 0x7D, 0x24, fuel},               // header: fuel -= 1
		[]byte{0x23, fuel, 0x42, 0, 0x53, 0x0D, 1},                  // br_if $exit (fuel < 0)
		[]byte{0x0B, 0x0C, 2, 0x0B},                                 // end $inner, br $done, end $exit
		[]byte{0x10, refuel, 0x23, fuel, 0x42, 1, 0x7C, 0x24, fuel}, // call refuel, fuel += 1
		[]byte{0x0C, 0, 0x0B, 0x0B, 0x0B},                           // br $outer, end $outer, end $done, end of the body's block
		[]byte{0x23, stack, 0x41, units, 0x6A, 0x24, stack, 0x0B},   // stack += units, end
	)
	if !slices.Equal(bodies[0].Code, wrapped) {
		t.Errorf("wrapped loop:\n got % x\nwant % x", bodies[0].Code, wrapped)
	}
	inline := []byte{0x23, fuel, 0x42, 0, 0x53, 0x04, 0x40, 0x10, refuel, 0x0B} // if fuel < 0 { call refuel }
	if b := bodies[1].Code; !bytes.Contains(b, inline) || bytes.Contains(b, []byte{0x02, 0x40, 0x03, 0x01}) {
		t.Errorf("loop of a type index: % x, want the inline call % x", b, inline)
	}
}
