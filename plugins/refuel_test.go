package plugins

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

// Tests of the slices of the instruction budget (cpu.go, refill): a metered
// guest comes back to the host every refuelSlice instructions, even in a
// loop that calls nothing, and the host can then stop it (an abort from
// another goroutine, the call's deadline) or make it wait (the yield hook).

// loopGuests loop without calling anything: a WAT loop and a Go for {}.
var loopGuests = []struct {
	name string
	wasm func(testing.TB) []byte
	body string
}{
	{"wat loop", watGuest("infinite_loop"), seedBody},
	{"go spin", goGuest("kitchen"), "!spin"},
}

// longLimits give calls a budget of 10 thousand million instructions, one to
// two seconds of a guest loop: a runaway that is not stopped by something
// else first uses all of it, which the tests can tell from Instructions
// without timing anything.
func longLimits() limits.Limits {
	l := testLimits()
	l.MaxInstructions = 10_000_000_000
	return l
}

// TestRefuelEverySlice: a guest in a pure compute loop enters refuel once
// per slice, a deterministic number of times with slices of a fixed size
// (sliceTime zero): the yield hook runs at each refill, 99 times for the
// default budget of 100 million (the 100th refuel finds it spent).
func TestRefuelEverySlice(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	e.sliceTime = 0
	var yields atomic.Int64
	e.yield = func(*instance) { yields.Add(1) }
	lim := limits.Default() // the default budget, and a backstop the machine cannot reach
	lim.CallTimeout = 10 * time.Second
	tn := newTestTenant(t, e, SandboxOptions{ID: "refuel", Limits: lim})
	for _, g := range loopGuests {
		t.Run(g.name, func(t *testing.T) {
			p := load(t, tn, "loop", g.wasm(t))
			yields.Store(0)
			_, info, err := p.Call(context.Background(), seedCommand, []byte(g.body), nil)
			if KindOf(err) != KindCPUTime || !strings.Contains(err.Error(), "instruction budget of 100000000 exhausted") {
				t.Fatalf("error %v, want the budget", err)
			}
			if got, want := yields.Load(), int64(limits.Default().MaxInstructions/refuelSlice-1); got != want {
				t.Errorf("%d refills, want %d (budget %d, slices of %d)", got, want, limits.Default().MaxInstructions, refuelSlice)
			}
			t.Logf("%s: %d instructions, %d refills", g.name, info.Instructions, yields.Load())
		})
	}
	// A call that ends on its own refuels once per slice it crossed.
	p := load(t, tn, "fib", goWasm(t, "kitchen"))
	call(t, p, seedBody) // an instance, so that its _initialize is not counted
	yields.Store(0)
	_, info, err := p.Call(context.Background(), seedCommand, []byte("!fib 27"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, want := yields.Load(), int64(info.Instructions/refuelSlice); n < want-1 || n > want {
		t.Errorf("fib(27): %d instructions, %d refills; want about %d", info.Instructions, n, want)
	}
	t.Logf("fib(27): %d instructions, %d refills", info.Instructions, yields.Load())
}

// TestSlicesSizedByTime: with slices sized by their speed (sizeSlice) a
// guest comes back to the host more often the shorter the slice's time,
// within minSlice and refuelSlice instructions, and the count does not
// change: a slice time no guest can reach (a nanosecond) gives slices of
// minSlice after the first, one no guest can spend (an hour) keeps them at
// refuelSlice. A loop and a call-heavy guest (fib) alike, each on its own
// instance, which keeps the size it learned for its next call.
func TestSlicesSizedByTime(t *testing.T) {
	budget := limits.Default().MaxInstructions
	guests := []struct {
		name, wat string
	}{{"loop", "infinite_loop"}, {"recursion", "deep_recursion"}}
	for _, tc := range []struct {
		name           string
		slice          time.Duration
		minRef, maxRef int64 // refills of a call that spends the whole budget
	}{
		{"a nanosecond", time.Nanosecond, int64((budget-refuelSlice)/minSlice) - 1, int64((budget-refuelSlice)/minSlice) + 1},
		{"an hour", time.Hour, int64(budget/refuelSlice) - 1, int64(budget/refuelSlice) - 1},
	} {
		for _, g := range guests {
			t.Run(tc.name+"/"+g.name, func(t *testing.T) {
				e := newTestEngine(t, EngineOptions{})
				e.sliceTime = tc.slice
				var yields atomic.Int64
				e.yield = func(*instance) { yields.Add(1) }
				lim := limits.Default()
				lim.CallTimeout = 10 * time.Second
				tn := newTestTenant(t, e, SandboxOptions{ID: "slices", Limits: lim})
				p := load(t, tn, g.name, watGuest(g.wat)(t))
				_, info, err := p.Call(context.Background(), seedCommand, []byte(seedBody), nil)
				if KindOf(err) != KindCPUTime || info.Instructions <= budget {
					t.Fatalf("%v after %d instructions, want the budget of %d", err, info.Instructions, budget)
				}
				if n := yields.Load(); n < tc.minRef || n > tc.maxRef {
					t.Errorf("%d refills, want %d to %d", n, tc.minRef, tc.maxRef)
				}
			})
		}
	}
	// An instance keeps the size it learned for its next call: the first
	// call of a Go guest's fib(27) begins with a slice of refuelSlice, the
	// second with one of minSlice.
	e := newTestEngine(t, EngineOptions{})
	e.sliceTime = time.Nanosecond
	var yields atomic.Int64
	e.yield = func(*instance) { yields.Add(1) }
	tn := newTestTenant(t, e, SandboxOptions{ID: "learned"})
	p := load(t, tn, "fib", goWasm(t, "kitchen"))
	var refills [2]int64
	for call := range 2 {
		yields.Store(0)
		_, info, err := p.Call(context.Background(), seedCommand, []byte("!fib 27"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// A Go guest overdraws each slice a little (its checks are
		// function entries and loop headers), so a few refills fewer.
		refills[call] = yields.Load()
		if want := int64(1 + (info.Instructions-refuelSlice)/minSlice); call == 0 && (refills[0] < want*99/100 || refills[0] > want) {
			t.Errorf("fib(27): %d instructions, %d refills; want about %d", info.Instructions, refills[0], want)
		}
	}
	if d, want := refills[1]-refills[0], int64(refuelSlice/minSlice-1); d < want-3 || d > want+3 {
		t.Errorf("the second call refilled %d times more than the first, want about %d: a first slice of minSlice", d, want)
	}
	if s := p.Stats(); s.Created != 1 {
		t.Errorf("%d instances created, want 1 for both calls", s.Created)
	}
}

// TestAbortStopsComputeLoop: another goroutine aborts an instance whose guest
// loops without calling anything; the call ends at the next refuel with the
// abort's kind and error, long before its budget, and the instance is
// dropped.
func TestAbortStopsComputeLoop(t *testing.T) {
	errAborted := errors.New("plugin deleted")
	for _, g := range loopGuests {
		t.Run(g.name, func(t *testing.T) {
			e := newTestEngine(t, EngineOptions{})
			running := make(chan *instance, 1)
			var armed atomic.Bool // not during Load: a Go guest's _initialize refuels too
			e.yield = func(i *instance) {
				if !armed.Load() {
					return
				}
				select {
				case running <- i: // the first refill: the guest is looping
				default:
				}
			}
			go func() { (<-running).abort(KindClosed, errAborted) }()
			tn := newTestTenant(t, e, SandboxOptions{ID: "abort", Limits: longLimits()})
			p := load(t, tn, "loop", g.wasm(t))
			armed.Store(true)
			_, info, err := p.Call(context.Background(), seedCommand, []byte(g.body), nil)
			if KindOf(err) != KindClosed || !errors.Is(err, ErrClosed) || !errors.Is(err, errAborted) {
				t.Fatalf("error %v, want the abort", err)
			}
			if info.Instructions >= longLimits().MaxInstructions {
				t.Errorf("used %d instructions: the budget, not the abort, stopped it", info.Instructions)
			}
			if s := p.Stats(); s.Dropped != 1 {
				t.Errorf("dropped %d instances, want 1", s.Dropped)
			}
			t.Logf("stopped after %d instructions: %v", info.Instructions, err)
		})
	}
}

// TestAbortBeforeCall: an instance aborted between calls does not enter its
// guest again, and is dropped.
func TestAbortBeforeCall(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "abort"})
	p := load(t, tn, "echo", wat(t, "echo"))
	ctx := context.Background()
	i, err := p.pool.get(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	errAborted := errors.New("tenant deleted")
	i.abort(KindClosed, errAborted)
	i.abort(KindTrap, errors.New("second")) // the first abort wins
	var info CallInfo
	_, kind, err := i.call(ctx, seedCommand, []byte(seedBody), false, nil, &info)
	if kind != KindClosed || !errors.Is(err, errAborted) || !i.dead {
		t.Fatalf("call on an aborted instance: %v, %v, dead %v", kind, err, i.dead)
	}
	p.pool.put(i)
	if s := p.Stats(); s.Dropped != 1 {
		t.Errorf("dropped %d instances, want 1", s.Dropped)
	}
	if r, _, err := p.Call(ctx, seedCommand, []byte(seedBody), nil); err != nil || len(r) == 0 {
		t.Errorf("next call on a fresh instance: %q, %v", r, err)
	}
}

// TestDeadlineInComputeLoop: a metered guest looping without calling the
// host is stopped by the call's wall-clock deadline, the caller's or the
// CallTimeout backstop, at the first refuel after it, long before its
// budget. (Before slices, metered pure compute ended only by budget.)
func TestDeadlineInComputeLoop(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	for _, g := range loopGuests {
		for _, d := range []string{"ctx", "backstop"} {
			t.Run(g.name+"/"+d, func(t *testing.T) {
				lim := longLimits()
				if d == "backstop" {
					lim.CallTimeout = 100 * time.Millisecond
				}
				tn := newTestTenant(t, e, SandboxOptions{ID: "deadline-" + d, Limits: lim})
				defer tn.Close(context.Background())
				p := load(t, tn, "loop", g.wasm(t))
				ctx := context.Background()
				if d == "ctx" {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
					defer cancel()
				}
				_, info, err := p.Call(ctx, seedCommand, []byte(g.body), nil)
				if KindOf(err) != KindCPUTime || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("error %v, want cpu_time", err)
				}
				if !strings.Contains(err.Error(), "call ran past its wall-clock deadline") {
					t.Errorf("error %q does not name the deadline", err)
				}
				if info.Instructions >= lim.MaxInstructions {
					t.Errorf("used %d instructions: the budget, not the deadline, stopped it", info.Instructions)
				}
				t.Logf("stopped after %d instructions, %s", info.Instructions, info.Duration)
			})
		}
	}
}

// TestYieldHookMayBlock: a call blocked in the yield hook (the fair CPU share
// making a busy tenant wait) resumes where it was and ends with the same
// reply and count as a call that never waited.
func TestYieldHookMayBlock(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	entered, release := make(chan struct{}), make(chan struct{})
	var block atomic.Bool
	e.yield = func(*instance) {
		if block.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
	}
	tn := newTestTenant(t, e, SandboxOptions{ID: "yield"})
	ctx := context.Background()
	// Two plugins, so that both calls run on an instance with the same
	// history (a Go guest's count depends on what ran before).
	want, wantInfo, err := load(t, tn, "unblocked", goWasm(t, "kitchen")).Call(ctx, seedCommand, []byte("!fib 27"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, tn, "blocked", goWasm(t, "kitchen"))
	block.Store(true)
	type result struct {
		reply []byte
		info  CallInfo
		err   error
	}
	done := make(chan result, 1)
	go func() {
		r, info, err := p.Call(ctx, seedCommand, []byte("!fib 27"), nil)
		done <- result{r, info, err}
	}()
	<-entered
	select {
	case r := <-done:
		t.Fatalf("call returned while blocked in the yield hook: %+v", r)
	default:
	}
	close(release)
	r := <-done
	if r.err != nil || string(r.reply) != string(want) || r.info.Instructions != wantInfo.Instructions {
		t.Errorf("after blocking: %q, %d instructions, %v; want %q, %d", r.reply, r.info.Instructions, r.err, want, wantInfo.Instructions)
	}
}

// TestBusyStartFunction: a start function that never returns is stopped by
// the budget the rewriter gives start functions, and the load fails with
// KindCPUTime.
func TestBusyStartFunction(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "start"})
	_, err := tn.Load(context.Background(), "start", wat(t, "busy_start"))
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != KindCPUTime {
		t.Fatalf("error %v, want a *LoadError of kind cpu_time", err)
	}
	if want := "start function: instruction budget of 100000000 exhausted"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// TestMeterImportReserved: a module that imports from imhook_meter, the
// name of the import the rewriter adds, cannot be metered and is refused at
// load, in every CPU limit mode, with the deadline fallback allowed (without
// it the rewriter's refusal refuses it first, TestUnmeteredRefused).
func TestMeterImportReserved(t *testing.T) {
	e := newTestEngine(t, EngineOptions{DeadlineFallback: true})
	for _, mode := range []CPULimit{"", CPULimitDeadline, CPULimitNone} {
		tn := newTestTenant(t, e, SandboxOptions{ID: "reserved", CPULimit: mode})
		_, err := tn.Load(context.Background(), "p", wat(t, "meter_import"))
		var le *LoadError
		if !errors.As(err, &le) || le.Kind != KindInvalidModule || !strings.Contains(err.Error(), "guest imports func[imhook_meter.refuel]; module imhook_meter is reserved") {
			t.Errorf("mode %q: %v, want the reserved module named", mode, err)
		}
		tn.Close(context.Background())
	}
}
