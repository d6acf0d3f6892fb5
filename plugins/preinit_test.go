package plugins

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/plugins/internal/preinit"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk"
)

// preinitPair loads wasm twice under the same options: in an engine that
// starts instances from the plugin's snapshot (the default) and in one that
// runs _initialize for each (NoPreInit). Every call gets a new instance
// (MaxCallsPerInstance 1), so that the pre-initialised plugin answers every
// call from a copy of its snapshot.
func preinitPair(t *testing.T, wasm []byte, opt SandboxOptions) (pre, plain *Plugin) {
	t.Helper()
	if opt.Limits == (limits.Limits{}) {
		opt.Limits = testLimits()
	}
	opt.Limits.MaxCallsPerInstance = 1
	opt.ID = "pre"
	pre = load(t, newTestTenant(t, newTestEngine(t, EngineOptions{}), opt), "p", wasm)
	opt.ID = "plain"
	plain = load(t, newTestTenant(t, newTestEngine(t, EngineOptions{NoPreInit: true}), opt), "p", wasm)
	if ok, why := plain.pre.status(); ok || why != "" {
		t.Fatalf("NoPreInit: pre-initialised %v (%q), want neither", ok, why)
	}
	return pre, plain
}

// sameReply calls both plugins and requires the same reply, failure and
// instruction count: the guest ran the same code on the same state.
func sameReply(t *testing.T, pre, plain *Plugin, command string, body []byte) string {
	t.Helper()
	ctx := context.Background()
	r1, i1, err1 := pre.Call(ctx, command, body, nil)
	r2, i2, err2 := plain.Call(ctx, command, body, nil)
	got := fmt.Sprintf("reply %q, %s, %d instructions", r1, errText(err1), i1.Instructions)
	want := fmt.Sprintf("reply %q, %s, %d instructions", r2, errText(err2), i2.Instructions)
	if got != want {
		t.Errorf("%s %.40q:\npre-initialised: %s\nnormal:          %s", command, body, got, want)
	}
	return string(r1)
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	ce, ok := err.(*CallError)
	if !ok {
		return err.Error()
	}
	// The tenant's ID differs between the two engines; the rest must not.
	return ce.Kind.String() + ": " + strings.ReplaceAll(ce.Error(), "pre", "plain")
}

// catalogExamples returns the example body of each command of the catalog.
func catalogExamples(t *testing.T) map[string][]byte {
	t.Helper()
	var cmds []struct {
		Command string          `json:"command"`
		Example json.RawMessage `json:"example"`
	}
	if err := json.Unmarshal(sdk.Catalog(), &cmds); err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(cmds))
	for _, c := range cmds {
		out[c.Command] = c.Example
	}
	return out
}

// TestPreinitSameReplies: every example plugin and Go test plugin (of the
// sandbox, the examples, the server and the bench) answers
// every command it declares, with the catalog's example callback, exactly as
// an instance that ran _initialize itself does: same reply or failure, same
// instruction count.
func TestPreinitSameReplies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a dozen Go plugins")
	}
	examples := catalogExamples(t)
	guests := []struct {
		pkg    string
		bodies []string // extra bodies for the seed command (raw guests)
	}{
		{pkg: "../examples/moderation"}, {pkg: "../examples/readsync"}, {pkg: "../examples/policy"},
		{pkg: "../examples/trivial"}, {pkg: "../examples/readforward"}, {pkg: "../examples/ratelimit"},
		{pkg: "../examples/testdata/panicky"}, {pkg: "kvscript"}, {pkg: "outcall"},
		{pkg: "../host/testdata/every"}, {pkg: "../host/testdata/appender"}, {pkg: "../host/testdata/queued"},
		{pkg: "../host/testdata/slow"}, {pkg: "../cmd/imhook/internal/noisy/heavy"},
		{pkg: "kitchen", bodies: []string{"!clock", "!echo hi", "!config banned_words", "!panic", "!fib 20", "!nap 5", "!open", "!sleep"}},
		{pkg: "initstate", bodies: []string{"state", "random", "clock", "load 3"}},
	}
	for _, g := range guests {
		t.Run(goGuestName(g.pkg), func(t *testing.T) {
			t.Parallel()
			opt := SandboxOptions{
				Grants: limits.Grants{HTTP: true, KV: true},
				Config: map[string]string{"banned_words": "spam", "log_level": "debug"},
			}
			pre, plain := preinitPair(t, goWasm(t, g.pkg), opt)
			if ok, why := pre.pre.status(); !ok {
				t.Fatalf("not pre-initialised: %s", why)
			}
			for _, c := range pre.Commands() {
				body, ok := examples[c]
				if !ok {
					t.Fatalf("no catalog example for %s", c)
				}
				sameReply(t, pre, plain, c, body)
				sameReply(t, pre, plain, c, body) // a second copy, after the first was recycled
			}
			for _, b := range g.bodies {
				sameReply(t, pre, plain, seedCommand, []byte(b))
			}
			if s := pre.Stats(); s.Recycled < 2 {
				t.Errorf("pool %+v: calls were not made on new instances", s)
			}
		})
	}
}

// TestPreinitRuntimeState: a Go guest started from the snapshot finds
// what its init left (a goroutine waiting on a channel, a timer, a map,
// math/rand's state) working, and survives goroutines, allocation and forced
// GCs under load, on new instances and on one instance for many calls.
func TestPreinitRuntimeState(t *testing.T) {
	wasm := goWasm(t, "initstate")
	pre, plain := preinitPair(t, wasm, SandboxOptions{})
	for range 3 {
		if got := sameReply(t, pre, plain, seedCommand, []byte("state")); got != "goroutine=42 timer=fired map=499500" {
			t.Fatalf("state: %q", got)
		}
	}
	sameReply(t, pre, plain, seedCommand, []byte("random"))
	sameReply(t, pre, plain, seedCommand, []byte("clock"))
	if got := sameReply(t, pre, plain, seedCommand, []byte("load 3")); !strings.HasPrefix(got, "load=") {
		t.Fatalf("load: %q", got)
	}

	// One long-lived instance from the snapshot, under load.
	lim := testLimits()
	lim.MaxInstances = 2
	tn := newTestTenant(t, newTestEngine(t, EngineOptions{}), SandboxOptions{ID: "load", Limits: lim})
	p := load(t, tn, "p", wasm)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				for _, body := range []string{"load 2", "state"} {
					if _, _, err := p.Call(context.Background(), seedCommand, []byte(body), nil); err != nil {
						t.Error(body, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.Created < 2 || s.Dropped != 0 {
		t.Errorf("pool %+v: want a second instance, from the snapshot, and none dropped", s)
	}
}

// TestPreinitGrants: what a snapshot would get wrong is not snapshotted.
// With the random grant, the Go runtime seeds its map hashes and math/rand
// from real random bytes at init: copies would all share them, so each
// instance runs _initialize and draws its own. With the walltime grant, a
// guest that reads the wall clock at init keeps its own reading. The real
// monotonic clock is fine: copies see time passed since init.
func TestPreinitGrants(t *testing.T) {
	wasm := goWasm(t, "initstate")
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxCallsPerInstance = 1
	call := func(p *Plugin, body string) string {
		t.Helper()
		r, _, err := p.Call(context.Background(), seedCommand, []byte(body), nil)
		if err != nil {
			t.Fatal(body, err)
		}
		return string(r)
	}

	random := load(t, newTestTenant(t, e, SandboxOptions{ID: "random", Limits: lim, Grants: limits.Grants{Random: true}}), "p", wasm)
	if ok, why := random.pre.status(); ok || !strings.Contains(why, "random") {
		t.Errorf("random grant: pre-initialised %v (%q), want not, because of random_get", ok, why)
	}
	if a, b := call(random, "random"), call(random, "random"); a == b {
		t.Errorf("random grant: two instances drew the same values: %s", a)
	}

	wall := load(t, newTestTenant(t, e, SandboxOptions{ID: "wall", Limits: lim, Grants: limits.Grants{Walltime: true}}), "p", wasm)
	if ok, why := wall.pre.status(); ok || !strings.Contains(why, "wall clock") {
		t.Errorf("walltime grant: pre-initialised %v (%q), want not, because init read the wall clock", ok, why)
	}

	mono := load(t, newTestTenant(t, e, SandboxOptions{ID: "mono", Limits: lim, Grants: limits.Grants{Nanotime: true}}), "p", wasm)
	if ok, why := mono.pre.status(); !ok {
		t.Errorf("nanotime grant: not pre-initialised: %s", why)
	}
	if got := call(mono, "state"); got != "goroutine=42 timer=fired map=499500" {
		t.Errorf("nanotime grant, state: %q", got)
	}
	var since int64
	if _, err := fmt.Sscanf(call(mono, "clock")[strings.Index(call(mono, "clock"), "sinceinit="):], "sinceinit=%d", &since); err != nil || since <= 0 {
		t.Errorf("nanotime grant: time since init %d (%v), want > 0", since, err)
	}
}

// TestPreinitHostile: _initialize runs once per plugin, at load, under the
// same budget, memory cap and CPU slot as any instance's; what it leaves is
// bounded by the cap however it writes memory; a module whose init calls the
// host, or fails, keeps working as before, and other tenants' loads are not
// disturbed.
func TestPreinitHostile(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxCallsPerInstance = 1

	var wg sync.WaitGroup
	var neighbour *Plugin
	wg.Add(1)
	go func() { // another tenant loads a Go plugin meanwhile
		defer wg.Done()
		neighbour = load(t, newTestTenant(t, e, SandboxOptions{ID: "neighbour"}), "kitchen", goWasm(t, "kitchen"))
	}()

	scatter := load(t, newTestTenant(t, e, SandboxOptions{ID: "scatter", Limits: lim}), "p", wat(t, "init_scatter"))
	snap := scatter.pre.snap.Load()
	if snap == nil {
		_, why := scatter.pre.status()
		t.Fatalf("init_scatter: no snapshot: %s", why)
	}
	capBytes := int(lim.MemoryPages) << 16
	if snap.Pages() > lim.MemoryPages || snap.Bytes() > capBytes || snap.Spans() > preinit.MaxSpans {
		t.Errorf("snapshot of %d pages, %d bytes in %d ranges; want at most %d pages, %d bytes, %d ranges",
			snap.Pages(), snap.Bytes(), snap.Spans(), lim.MemoryPages, capBytes, preinit.MaxSpans)
	}
	if scatter.Info().InitInstructions == 0 {
		t.Error("init_scatter: _initialize was not billed")
	}
	for range 3 { // each call on a new copy: what init wrote is there, the global starts at 0
		if r, _, err := scatter.Call(context.Background(), seedCommand, nil, nil); err != nil || string(r) != "1" {
			t.Fatalf("init_scatter: %q, %v; want \"1\"", r, err)
		}
	}

	logs := load(t, newTestTenant(t, e, SandboxOptions{ID: "log", Limits: lim}), "p", wat(t, "init_log"))
	if info := logs.Info(); info.PreInitialized || info.PreInitReason != "_initialize called imhook.log" {
		t.Errorf("init_log: pre-initialised %v (%q), want not, because it called imhook.log", info.PreInitialized, info.PreInitReason)
	}
	if !scatter.Info().PreInitialized {
		t.Error("init_scatter: ModuleInfo says not pre-initialised")
	}

	short := lim
	short.InitInstructions = 1_000_000
	_, err := newTestTenant(t, e, SandboxOptions{ID: "loop", Limits: short}).Load(context.Background(), "p", wat(t, "init_loop"))
	if KindOf(err) != KindCPUTime {
		t.Errorf("init_loop: %v, want the init budget exhausted", err)
	}

	wg.Wait()
	if ok, why := neighbour.pre.status(); !ok {
		t.Errorf("neighbour: not pre-initialised: %s", why)
	}
	if _, _, err := neighbour.Call(context.Background(), seedCommand, []byte(seedBody), nil); err != nil {
		t.Error("neighbour:", err)
	}
}

// TestPreinitOff: NoPreInit runs _initialize for every instance.
func TestPreinitOff(t *testing.T) {
	e := newTestEngine(t, EngineOptions{NoPreInit: true})
	p := load(t, newTestTenant(t, e, SandboxOptions{}), "p", goWasm(t, "kitchen"))
	i, err := p.newInstance(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer i.close()
	if ok, _ := p.pre.status(); ok || i.initUsed == 0 {
		t.Errorf("NoPreInit: pre-initialised %v, _initialize used %d instructions; want it run", ok, i.initUsed)
	}
}
