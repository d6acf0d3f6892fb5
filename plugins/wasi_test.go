package plugins

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/imhook/imhook/plugins/limits"
)

// TestWASIFuncsDocumented holds docs/abi.md's table of WASI functions to
// wasiFuncs: the same functions, types, costs and behaviours, both ways.
func TestWASIFuncsDocumented(t *testing.T) {
	documented := abiRows(t, wasiModule)
	for _, f := range wasiFuncs {
		want := watSignature(f) + " | " + f.cost() + " | " + f.behaviour
		got, ok := documented[f.name]
		switch {
		case !ok:
			t.Errorf("docs/abi.md does not list %s.%s: | `%s.%s` | `%s` |", wasiModule, f.name, wasiModule, f.name, want)
		case got != want:
			t.Errorf("docs/abi.md gives %s.%s as\n\t%s\nthe host provides\n\t%s", wasiModule, f.name, got, want)
		}
		delete(documented, f.name)
	}
	for name := range documented {
		t.Errorf("docs/abi.md lists %s.%s, which the host does not provide", wasiModule, name)
	}
}

// TestWASIFuncsMatchWazero: the table has every function of WASI preview 1
// that wazero implements, with the same types and parameter names, and no
// other; every row that hands calls on has wazero's function to hand them
// to.
func TestWASIFuncsMatchWazero(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	cm, err := wasi_snapshot_preview1.NewBuilder(rt).Compile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defs := cm.ExportedFunctions()
	for _, f := range wasiFuncs {
		def, ok := defs[f.name]
		if !ok {
			t.Errorf("wasiFuncs has %s, which wazero does not define", f.name)
			continue
		}
		if !f.sig().equal(def.ParamTypes(), def.ResultTypes()) || !slices.Equal(f.paramNames, def.ParamNames()) {
			t.Errorf("%s: table %s %v, wazero %s %v", f.name, f.sig(), f.paramNames, signature{def.ParamTypes(), def.ResultTypes()}, def.ParamNames())
		}
		delete(defs, f.name)
	}
	for name := range defs {
		t.Errorf("wazero defines %s, which wasiFuncs lacks: a guest importing it would be refused", name)
	}
	next, err := wazeroWASI()
	if err != nil {
		t.Fatal(err)
	}
	if len(next) != len(wasiFuncs) {
		t.Errorf("wazeroWASI found %d functions, want %d", len(next), len(wasiFuncs))
	}
}

// wasiCall calls the wasi_flood guest once with body and returns the errno
// of its last WASI call.
func wasiCall(t *testing.T, p *Plugin, body string) (errno int, info CallInfo) {
	t.Helper()
	r, info, err := p.Call(context.Background(), seedCommand, []byte(body), nil)
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(r) != 1 {
		t.Fatalf("%s: reply %q, want one byte", body, r)
	}
	return int(r[0]) - '0', info
}

// TestWASIAnswers: each WASI function the hostile guest loops on answers as
// docs/abi.md says, and a call is billed its row's cost: the difference
// between two calls and one is the cost plus the guest's own loop.
func TestWASIAnswers(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "wasi"}), "flood", wat(t, "wasi_flood"))
	// The guest's own instructions per iteration of its loop, at most.
	const guestLoop = 100
	for _, tc := range []struct {
		op    string
		errno int
		fn    string
		units []uint64
	}{
		{"p", errnoInval, "poll_oneoff", []uint64{0}},
		{"o", errnoSuccess, "poll_oneoff", []uint64{1}},
		{"s", errnoSuccess, "poll_oneoff", []uint64{1}}, // a fake sleep: no grant
		{"y", errnoSuccess, "sched_yield", nil},
		{"r", errnoBadf, "fd_read", nil},
		{"f", errnoBadf, "fd_prestat_get", nil},
		{"g", errnoSuccess, "random_get", []uint64{1 << 20}},
		{"w", errnoSuccess, "fd_write", []uint64{1024, 0}},
		{"W", errnoInval, "fd_write", []uint64{0, 0}},
		{"e", errnoSuccess, "fd_write", []uint64{1, 64}},
		{"c", errnoSuccess, "clock_time_get", nil},
	} {
		t.Run(tc.op, func(t *testing.T) {
			errno, one := wasiCall(t, p, tc.op+"1")
			if errno != tc.errno {
				t.Errorf("%s answered errno %d, want %d", tc.fn, errno, tc.errno)
			}
			_, two := wasiCall(t, p, tc.op+"2")
			f, _ := wasiFuncs.lookup(tc.fn)
			cost := f.fixed
			for k, n := range tc.units {
				cost += f.rates[k].n * n
			}
			if got := two.Instructions - one.Instructions; got < cost || got > cost+guestLoop {
				t.Errorf("a %s call is billed %d instructions with the guest's loop, want %d (%s) plus at most %d", tc.fn, got, cost, f.cost(), guestLoop)
			}
		})
	}
}

// TestWASIHostile: a guest looping forever on any WASI function, run on
// tenant "evil" while tenant "good" is served from two goroutines, ends with
// KindCPUTime by its deadline, drops its instance, leaves nothing running
// after the call, and costs the good tenant nothing.
func TestWASIHostile(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	good := newTestTenant(t, e, SandboxOptions{ID: "good"})
	goodEcho := load(t, good, "echo", wat(t, "echo"))

	// The production limits: 100 million instructions (10-20 ms of CPU),
	// 100 ms of wall time. The budget runs out first, in a host function or
	// in the guest's loop, unless the machine is so loaded that the call's
	// deadline comes first; either way the call ends by its deadline.
	budget := testLimits()
	budget.CallTimeout = limits.Default().CallTimeout
	const budgetErr = `instruction budget of 100000000 exhausted|wall-clock deadline \(100ms\)`
	deadline := testLimits()
	deadline.MaxInstructions = 10_000_000_000 // 1-2 s of CPU: the call's deadline comes first
	deadline.CallTimeout = 100 * time.Millisecond
	tests := []struct {
		name    string
		body    string
		limits  limits.Limits
		grants  limits.Grants
		cpu     CPULimit
		wantErr string
	}{
		{name: "poll_oneoff 40000 subscriptions", body: "p", limits: budget, wantErr: budgetErr},
		{name: "poll_oneoff one subscription", body: "o", limits: budget, wantErr: budgetErr},
		{name: "poll_oneoff fake sleeps", body: "s", limits: budget, wantErr: budgetErr},
		{name: "sched_yield", body: "y", limits: budget, wantErr: budgetErr},
		{name: "fd_read of stdin", body: "r", limits: budget, wantErr: budgetErr},
		{name: "fd_prestat_get", body: "f", limits: budget, wantErr: budgetErr},
		{name: "random_get 1 MiB", body: "g", limits: budget, wantErr: budgetErr},
		{name: "fd_write 1024 iovecs", body: "w", limits: budget, wantErr: budgetErr},
		{name: "fd_write 100000 iovecs", body: "W", limits: budget, wantErr: budgetErr},
		{name: "fd_write stderr", body: "e", limits: budget, wantErr: budgetErr},
		{name: "clock_time_get", body: "c", limits: budget, wantErr: budgetErr},
		// With a budget too large to matter, the call's deadline stops a loop
		// of cheap host calls, and a real sleep.
		{name: "sched_yield past the deadline", body: "y", limits: deadline, wantErr: `call ran past its wall-clock deadline \(100ms\) in host function\[sched_yield\]`},
		{name: "random_get past the deadline", body: "g", limits: deadline, wantErr: `call ran past its wall-clock deadline \(100ms\) in host function\[random_get\]`},
		{name: "real sleep past the deadline", body: "s", limits: deadline, grants: limits.Grants{Nanotime: true}, wantErr: `call ran past its wall-clock deadline \(100ms\) sleeping`},
		// Modules that cannot be metered reach the same functions, under a deadline.
		{name: "deadline mode poll_oneoff", body: "p", limits: deadline, cpu: CPULimitDeadline, wantErr: "deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evil := newTestTenant(t, e, SandboxOptions{ID: "evil", Limits: tc.limits, Grants: tc.grants, CPULimit: tc.cpu})
			defer evil.Close(context.Background())
			p := load(t, evil, "flood", wat(t, "wasi_flood"))

			stop := hammer(t, goodEcho)
			start := time.Now()
			_, _, err := p.Call(context.Background(), seedCommand, []byte(tc.body), nil)
			took := time.Since(start)
			calls, fails := stop()

			if KindOf(err) != KindCPUTime || !errors.Is(err, ErrCPUTime) {
				t.Fatalf("error %v, want cpu_time", err)
			}
			if !regexp.MustCompile(tc.wantErr).MatchString(err.Error()) {
				t.Errorf("error %q does not match %q", err, tc.wantErr)
			}
			// Unbilled, the poll_oneoff loop took hours. The deadline is
			// 100 ms; seconds allow for -race and a loaded machine.
			// Bounded, not timed: the machine may be loaded.
			if took > 30*time.Second {
				t.Errorf("stopped after %s", took)
			}
			if fails != 0 || calls == 0 {
				t.Errorf("good tenant: %d of %d calls failed during the hostile call", fails, calls)
			}
			if s := p.Stats(); s.Dropped != 1 {
				t.Errorf("stats %+v, want the failed instance dropped", p.Stats())
			}
			if errno, _ := wasiCall(t, p, "y1"); errno != errnoSuccess {
				t.Errorf("next call: errno %d", errno)
			}
		})
	}

	// Nothing of the hostile calls runs on: the process is idle once they
	// returned. A call still running would use all of this window.
	const window = 500 * time.Millisecond
	cpu := cpuNow()
	time.Sleep(window)
	if used := cpuNow() - cpu; used > window/2 {
		t.Errorf("the process used %s of CPU in %s after the hostile calls returned", used, window)
	}
}

// TestWASIImportsChecked: a module importing a WASI name that does not exist,
// or a WASI function under another type, is refused at load with a message
// naming it.
func TestWASIImportsChecked(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "acme"})
	for _, tc := range []struct{ name, want string }{
		{"wasi_unknown", "guest imports func[wasi_snapshot_preview1.fd_nope], which is not a WASI preview 1 function (docs/abi.md lists what the host provides)"},
		{"wasi_wrong_type", "guest imports func[wasi_snapshot_preview1.fd_write] as (i32)->(i32), want (i32,i32,i32,i32)->(i32)"},
	} {
		_, err := tn.Load(context.Background(), tc.name, wat(t, tc.name))
		if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want invalid_module: %s", tc.name, err, tc.want)
		}
	}
}

// TestWASIGoGuest: a Go guest's WASI calls (clocks, random, sleeps, stderr,
// the preopen scan of package os at init) work through the gate, billed.
func TestWASIGoGuest(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "go"}), "kitchen", goWasm(t, "kitchen"))
	r, info, err := p.Call(context.Background(), seedCommand, []byte("!clock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The fake wall clock starts at 2022-01-01T00:00:00Z.
	if !strings.HasPrefix(string(r), `{"wall":1640995200,"rand":"`) {
		t.Errorf("clock reply %s", r)
	}
	if info.Instructions == 0 {
		t.Error("the call was not metered")
	}
	if r, _, err := p.Call(context.Background(), seedCommand, []byte("!nap 50"), nil); err != nil || string(r) != "napped" {
		t.Errorf("nap: %q, %v", r, err)
	}
	_, _, err = p.Call(context.Background(), seedCommand, []byte("!open"), nil)
	if KindOf(err) != KindGuestError || !strings.Contains(err.Error(), "open /etc/passwd") {
		t.Errorf("open: %v, want the guest's error", err)
	}
	if p.Info().InitInstructions == 0 {
		t.Error("_initialize was not metered")
	}
}
