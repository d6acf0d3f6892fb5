package plugins

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/internal/wasmrewrite"
	"github.com/imhook/imhook/plugins/limits"
)

// meterLimits are testLimits with a 20 million instruction budget: runaway
// guests are stopped in a few milliseconds, and the 10s CallTimeout of
// testLimits cannot be what stops them.
func meterLimits() limits.Limits {
	l := testLimits()
	l.MaxInstructions = 20_000_000
	l.InitInstructions = 20_000_000
	return l
}

// TestInstructionBudget: hostile guests of every shape are stopped by the
// instruction budget, with KindCPUTime and a message naming the budget, and
// the plugin keeps serving afterwards.
func TestInstructionBudget(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tests := []struct {
		name    string
		wasm    func(testing.TB) []byte
		body    string
		wantErr string
	}{
		// Stopped in guest code, by the refuel at the end of the last slice.
		{"infinite loop", watGuest("infinite_loop"), "", "instruction budget of 20000000 exhausted (recovered by wazero)\nwasm stack trace:\n\timhook_meter.refuel()"},
		{"deep recursion", watGuest("deep_recursion"), "", "instruction budget of 20000000 exhausted (recovered by wazero)\nwasm stack trace:\n\timhook_meter.refuel()"},
		{"config host calls in a loop", watGuest("host_loop"), "", "instruction budget of 20000000 exhausted in host function[config]"},
		{"go spin", goGuest("kitchen"), "!spin", "instruction budget of 20000000 exhausted"},
		{"go recursion", goGuest("kitchen"), "!recurse", "instruction budget of 20000000 exhausted"},
		// The Go loop allocates too: the budget runs out in guest or host code.
		{"go config host calls in a loop", goGuest("kitchen"), "!hostloop", "instruction budget of 20000000 exhausted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestTenant(t, e, SandboxOptions{ID: "meter", Limits: meterLimits()})
			defer tn.Close(context.Background())
			p := load(t, tn, "hostile", tc.wasm(t))
			if got := p.Info().CPULimit; got != CPULimitInstructions {
				t.Fatalf("CPULimit %q (%s), want instructions", got, p.Info().CPULimitReason)
			}
			body := tc.body
			if body == "" {
				body = seedBody
			}
			start := time.Now()
			_, info, err := p.Call(context.Background(), seedCommand, []byte(body), nil)
			took := time.Since(start)
			if KindOf(err) != KindCPUTime || !errors.Is(err, ErrCPUTime) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want cpu_time", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if info.Instructions < 20_000_000 {
				t.Errorf("Instructions %d, want at least the budget", info.Instructions)
			}
			if took > 5*time.Second {
				t.Errorf("stopped after %s", took)
			}
			if s := p.Stats(); s.Dropped != 1 {
				t.Errorf("dropped %d instances, want 1", s.Dropped)
			}
			if tc.body != "" { // the Go guest also serves normal calls
				if r, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil || string(r) != seedReply {
					t.Errorf("next call: %q, %v", r, err)
				}
			}
		})
	}
}

// TestInitBudget: a busy _initialize is stopped by InitInstructions, not by
// InitTimeout, and the load fails with KindCPUTime.
func TestInitBudget(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "meter", Limits: meterLimits()})
	start := time.Now()
	_, err := tn.Load(context.Background(), "init", wat(t, "init_loop"))
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != KindCPUTime || !errors.Is(err, ErrInvalidModule) || !errors.Is(err, ErrCPUTime) {
		t.Fatalf("error %v, want a *LoadError of kind cpu_time", err)
	}
	if want := "_initialize: instruction budget of 20000000 exhausted"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopped after %s", took)
	}
}

// TestInstructionsDeterministic: the same calls on instances with the same
// history use the same counts, in another engine too; _initialize too. (The
// first call on an instance also pays for growing the guest's input buffer,
// and a Go guest's allocations depend on what ran before, so counts are a
// function of the input and the instance's history.)
func TestInstructionsDeterministic(t *testing.T) {
	for _, g := range []struct {
		name string
		wasm func(testing.TB) []byte
		body string
	}{
		{"seed-go", goGuest("kitchen"), seedBody},
		{"fib-go", goGuest("kitchen"), "!fib 20"},
		{"readsync-sdk", goGuest("../examples/readsync"), seedBody},
		{"echo-wat", watGuest("echo"), seedBody},
	} {
		t.Run(g.name, func(t *testing.T) {
			var counts []uint64
			var inits []uint64
			for range 2 { // two engines
				e := newTestEngine(t, EngineOptions{})
				lim := testLimits()
				lim.MaxCallsPerInstance = 2 // every other call on a fresh instance
				tn := newTestTenant(t, e, SandboxOptions{ID: "det", Limits: lim, Config: map[string]string{"log_level": "off"}})
				p := load(t, tn, "p", g.wasm(t))
				inits = append(inits, p.Info().InitInstructions)
				for range 3 {
					_, info, err := p.Call(context.Background(), seedCommand, []byte(g.body), nil)
					if err != nil {
						t.Fatal(err)
					}
					counts = append(counts, info.Instructions)
				}
				if s := p.Stats(); s.Created < 2 {
					t.Fatalf("%d instances created, want the calls spread over several", s.Created)
				}
			}
			for k, c := range counts[:3] {
				if c == 0 || c != counts[3+k] {
					t.Fatalf("instructions per call %v, want the same positive counts in both engines", counts)
				}
			}
			if inits[0] != inits[1] {
				t.Errorf("_initialize used %v, want the same count", inits)
			}
			t.Logf("%d instructions per call, %d in _initialize", counts[0], inits[0])
		})
	}
}

// TestInstructionBudgetEdge: a call fits a budget equal to its count, and
// fails at half of it.
func TestInstructionBudgetEdge(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	wasm := goWasm(t, "kitchen")
	run := func(budget uint64) (CallInfo, error) {
		lim := testLimits()
		lim.MaxInstructions = budget
		tn := newTestTenant(t, e, SandboxOptions{ID: "edge", Limits: lim})
		defer tn.Close(context.Background())
		p := load(t, tn, "p", wasm)
		_, info, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		return info, err
	}
	info, err := run(0)
	if err != nil {
		t.Fatal(err)
	}
	n := info.Instructions
	if info, err = run(n); err != nil || info.Instructions != n {
		t.Errorf("budget %d: %d instructions, %v; want the call to fit", n, info.Instructions, err)
	}
	if _, err = run(n / 2); KindOf(err) != KindCPUTime {
		t.Errorf("budget %d: %v, want cpu_time", n/2, err)
	}
}

// TestMeteredSameReplies: metered and unmetered runs of the same module give
// the same replies.
func TestMeteredSameReplies(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	for _, g := range []struct {
		name   string
		wasm   func(testing.TB) []byte
		bodies []string
	}{
		{"kitchen", goGuest("kitchen"), []string{seedBody, "!fib 22", "!echo hello", "!config k", "!clock"}},
		{"readsync-sdk", goGuest("../examples/readsync"), []string{seedBody, strings.Replace(seedBody, "42", "5000", 1)}},
		{"echo-wat", watGuest("echo"), []string{seedBody, "x"}},
	} {
		t.Run(g.name, func(t *testing.T) {
			replies := map[CPULimit][]string{}
			for _, force := range []CPULimit{CPULimitNone, ""} {
				tn := newTestTenant(t, e, SandboxOptions{ID: "same", CPULimit: force, Config: map[string]string{"k": "v", "log_level": "off"}})
				p := load(t, tn, "p", g.wasm(t))
				for _, b := range g.bodies {
					r, _, err := p.Call(context.Background(), seedCommand, []byte(b), nil)
					if err != nil {
						t.Fatalf("%s: %v", p.Info().CPULimit, err)
					}
					replies[p.Info().CPULimit] = append(replies[p.Info().CPULimit], string(r))
				}
				tn.Close(context.Background())
			}
			none, metered := replies[CPULimitNone], replies[CPULimitInstructions]
			if len(none) != len(g.bodies) || strings.Join(none, "\n") != strings.Join(metered, "\n") {
				t.Fatalf("replies differ:\nnone:    %q\nmetered: %q", none, metered)
			}
		})
	}
}

// TestUnmeteredRefused: by default a module the metering rewriter refuses
// is refused at load, with what the rewriter found and what to do: a guest
// in deadline mode is never stopped at a safe point, so it would hold its
// core, and stall every stop-the-world of the server's collector, until its
// deadline. A module for which a CPU limit was forced is still loaded.
func TestUnmeteredRefused(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	for _, name := range []string{"unmeterable_loop", "meter_import"} {
		_, err := newTestTenant(t, e, SandboxOptions{ID: "strict"}).Load(context.Background(), "p", wat(t, name))
		var le *LoadError
		if !errors.As(err, &le) || le.Kind != KindInvalidModule ||
			!strings.Contains(err.Error(), "the module cannot be metered (unsupported wasm feature: module already") ||
			!strings.Contains(err.Error(), "sandbox.deadline_fallback") {
			t.Errorf("%s: %v, want it refused as unmeterable, naming the setting", name, err)
		}
	}
	p := load(t, newTestTenant(t, e, SandboxOptions{ID: "forced", CPULimit: CPULimitDeadline}), "p", wat(t, "echo"))
	if p.Info().CPULimit != CPULimitDeadline {
		t.Errorf("forced deadline: %s", p.Info().CPULimit)
	}
}

// TestCPULimitModes: which CPU limit a plugin gets, and why, with the
// deadline fallback allowed.
func TestCPULimitModes(t *testing.T) {
	e := newTestEngine(t, EngineOptions{DeadlineFallback: true})
	tests := []struct {
		name       string
		wasm       []byte
		force      CPULimit
		want       CPULimit
		wantReason string
	}{
		{"meterable", wat(t, "echo"), "", CPULimitInstructions, ""},
		{"unmeterable", wat(t, "unmeterable_loop"), "", CPULimitDeadline, `module already exports "imhook_fuel"`},
		{"forced deadline", wat(t, "echo"), CPULimitDeadline, CPULimitDeadline, "metering disabled"},
		{"no limit", wat(t, "echo"), CPULimitNone, CPULimitNone, "no CPU limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestTenant(t, e, SandboxOptions{ID: "modes", Limits: shortLimits(), CPULimit: tc.force})
			defer tn.Close(context.Background())
			p := load(t, tn, "p", tc.wasm)
			info := p.Info()
			if info.CPULimit != tc.want || !strings.Contains(info.CPULimitReason, tc.wantReason) || (tc.wantReason == "") != (info.CPULimitReason == "") {
				t.Fatalf("CPULimit %q reason %q, want %q with %q", info.CPULimit, info.CPULimitReason, tc.want, tc.wantReason)
			}
			if tc.want != CPULimitInstructions {
				return
			}
			_, ci, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
			if err != nil || ci.Instructions == 0 {
				t.Fatalf("metered call: %d instructions, %v", ci.Instructions, err)
			}
		})
	}

	t.Run("unmeterable loop stopped by the deadline", func(t *testing.T) {
		tn := newTestTenant(t, e, SandboxOptions{ID: "fallback", Limits: shortLimits()})
		defer tn.Close(context.Background())
		p := load(t, tn, "p", wat(t, "unmeterable_loop"))
		start := time.Now()
		_, info, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
		if KindOf(err) != KindCPUTime || strings.Contains(err.Error(), "instruction budget") {
			t.Fatalf("error %v, want cpu_time from the deadline", err)
		}
		if info.Instructions != 0 {
			t.Errorf("Instructions %d, want 0 for an unmetered module", info.Instructions)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("stopped after %s", took)
		}
	})

	t.Run("forged fuel write refused", func(t *testing.T) {
		// Invalid on purpose: it writes global 0, which only the metering
		// rewrite would create (internal/wasmrewrite/testdata/forged_fuel.wat).
		tn := newTestTenant(t, e, SandboxOptions{ID: "forged", Limits: shortLimits()})
		defer tn.Close(context.Background())
		forged := readFile(t, "internal/wasmrewrite/testdata/forged_fuel.wasm")
		_, err := tn.Load(context.Background(), "p", forged)
		if KindOf(err) != KindInvalidModule {
			t.Fatalf("Load(forged_fuel) = %v, want invalid_module", err)
		}
	})
}

// TestHostBackstop: a metered guest sleeping past CallTimeout (real sleeps
// granted) is stopped by the wall-clock backstop in the sleep hook.
func TestHostBackstop(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "nap", Limits: shortLimits(), Grants: limits.Grants{Nanotime: true}})
	p := load(t, tn, "p", goWasm(t, "kitchen"))
	if p.Info().CPULimit != CPULimitInstructions {
		t.Fatalf("CPULimit %q", p.Info().CPULimit)
	}
	if r, _, err := p.Call(context.Background(), seedCommand, []byte("!nap 5"), nil); err != nil || string(r) != "napped" {
		t.Fatalf("short nap: %q, %v", r, err)
	}
	start := time.Now()
	_, _, err := p.Call(context.Background(), seedCommand, []byte("!nap 5000"), nil)
	took := time.Since(start)
	if KindOf(err) != KindCPUTime || !strings.Contains(err.Error(), "wall-clock deadline") {
		t.Fatalf("long nap: %v, want cpu_time from the wall-clock deadline", err)
	}
	if took > 3*time.Second {
		t.Errorf("stopped after %s, want about CallTimeout (300ms)", took)
	}
}

// readFile reads a file of the package directory.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPreparedOnDisk: the metered form of a module is kept in the cache
// directory, and a restarted engine uses it instead of rewriting the upload.
// The test proves the second part by planting another module's metered form
// under the upload's hash: the restarted engine runs what it finds (the
// directory is trusted, like wazero's compilation cache).
func TestPreparedOnDisk(t *testing.T) {
	dir := t.TempDir() + "/cache"
	echo, trap := wat(t, "echo"), wat(t, "trap")
	e := newTestEngine(t, EngineOptions{CacheDir: dir})
	load(t, newTestTenant(t, e, SandboxOptions{ID: "a"}), "echo", echo)
	load(t, newTestTenant(t, e, SandboxOptions{ID: "b"}), "trap", trap)
	kept, err := os.ReadFile(e.preparedPath(hashOf(trap)))
	if err != nil {
		t.Fatalf("metered module not kept: %v", err)
	}
	if err := os.WriteFile(e.preparedPath(hashOf(echo)), kept, 0o600); err != nil {
		t.Fatal(err)
	}

	restarted := newTestEngine(t, EngineOptions{CacheDir: dir})
	p := load(t, newTestTenant(t, restarted, SandboxOptions{ID: "a"}), "echo", echo)
	if _, _, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil); KindOf(err) != KindTrap {
		t.Fatalf("restarted engine: %v, want the planted module's trap", err)
	}
}

// TestPreparedPin pins what the rewriter produces for the corpus module to
// rewriteVersion. When it fails, the rewriter's output changed: bump
// rewriteVersion (so that restarts do not reuse modules metered by the old
// code from the disk cache) and update the pin.
func TestPreparedPin(t *testing.T) {
	const pinVersion, pinHash = "5", "75180f3cdfc6d3281d497f252e0ccf60bcbc755c87d781e9fa02e405dcc35ef0"
	p, err := wasmrewrite.Prepare(readFile(t, "internal/wasmrewrite/testdata/corpus.wasm"), wasmrewrite.MeterOptions{})
	if err != nil || !p.Metered {
		t.Fatalf("Prepare(corpus): metered %v, %v", p.Metered, err)
	}
	if got := hashOf(withPreinit(p.Wasm)); rewriteVersion != pinVersion || got != pinHash {
		t.Fatalf("rewriteVersion %s, output sha256 %s; pinned %s, %s: bump rewriteVersion in prepare.go when the rewriter's output changes, then update this pin", rewriteVersion, got, pinVersion, pinHash)
	}
}

// TestPreparedBounded: rewritten modules are held in memory only while they
// are compiled, plus the last maxIdlePrepared.
func TestPreparedBounded(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "many"})
	names := []string{"echo", "trap", "infinite_loop", "deep_recursion", "host_loop", "huge_output", "log_flood"}
	for _, n := range names {
		load(t, tn, n, wat(t, n))
	}
	e.mu.Lock()
	held, idle := len(e.prepared), len(e.idlePrepared)
	e.mu.Unlock()
	if held != maxIdlePrepared || idle != maxIdlePrepared {
		t.Errorf("%d prepared modules held (%d idle) after loading %d plugins, want %d", held, idle, len(names), maxIdlePrepared)
	}
}

// slowHandler is a slog handler that takes 20ms per record, like a logger
// writing to a stalled pipe.
type slowHandler struct{ slog.Handler }

func (h slowHandler) Handle(ctx context.Context, r slog.Record) error {
	time.Sleep(20 * time.Millisecond)
	return nil
}

// TestHostBackstopSlowHostFunction: a guest logging in a loop through a slow
// logger is stopped by the wall-clock backstop long before its instruction
// budget (each line is billed as if the logger were fast).
func TestHostBackstopSlowHostFunction(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := shortLimits()      // 300ms
	lim.MaxLogBytes = 1 << 20 // the most there is; the backstop fires first
	logger := slog.New(slowHandler{slog.NewTextHandler(io.Discard, nil)})
	tn := newTestTenant(t, e, SandboxOptions{ID: "slowlog", Limits: lim, Logger: logger})
	p := load(t, tn, "p", goWasm(t, "kitchen"))
	start := time.Now()
	_, _, err := p.Call(context.Background(), seedCommand, []byte("!log"), nil)
	took := time.Since(start)
	if KindOf(err) != KindCPUTime || !strings.Contains(err.Error(), "wall-clock deadline (300ms) in host function[log]") {
		t.Fatalf("error %v, want cpu_time from the wall-clock deadline in log", err)
	}
	// The clock is read every 10 log lines: 300ms plus up to 10 lines of 20ms.
	if took > 3*time.Second {
		t.Errorf("stopped after %s", took)
	}
}
