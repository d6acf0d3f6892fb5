package main

// imhook bench --neighbour: how much a noisy tenant slows a well-behaved
// neighbour on the same server, scenario by scenario and round by round,
// and where the target of issue 12 stands (docs/performance.md,
// "Neighbours").

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/cmd/imhook/internal/noisy"
)

const (
	victimTenant = "victim" // the well-behaved tenant of --neighbour
	// targetNeighbourP99 is issue 12's target: the victim's p99 with a
	// budget-burning neighbour at most this many times its p99 with a
	// benign one, at the same offered load.
	targetNeighbourP99 = 1.5
	// disturbedBaseline: scenario (a)'s p99 varying by more than this
	// factor between rounds is reported as a disturbed machine.
	disturbedBaseline = 3
	victimSeed        = 1 // the arrivals of the victim's load, the same in every scenario
	noisySeed         = 2 // the noisy tenant's
)

// neighbourScenario is one plugin the noisy tenant can run.
type neighbourScenario struct{ key, plugin, name string }

// neighbourScenarios are the noisy tenant's plugins, in the order rounds run
// them; (a) is the baseline the others are compared with.
var neighbourScenarios = []neighbourScenario{
	{"a", "moderation", "benign: the moderation plugin"},
	{"b", "loop", "loop: a raw-ABI guest looping forever"},
	{"c", "recursion", "deep recursion: a raw-ABI guest in fib(90)"},
	{"d", "spin", "spinning Go guest"},
	{"e", "heavy", "heavy Go guest: ~50M instructions, then replies"},
}

// NeighbourReport is the result of --neighbour.
type NeighbourReport struct {
	Machine     Machine             `json:"machine"`
	Rounds      int                 `json:"rounds"`
	DurationS   float64             `json:"round_duration_s"`
	WarmupS     float64             `json:"warmup_s"`
	Rate        float64             `json:"rate_per_s_per_tenant"`
	Arrivals    string              `json:"arrivals"`
	Connections int                 `json:"connections_per_tenant"`
	CPUSlots    int                 `json:"cpu_slots"`
	Env         []string            `json:"env,omitempty"` // --env settings of the server
	Scenarios   []NeighbourScenario `json:"scenarios"`
	Targets     []Target            `json:"targets"`
	// Warnings are failed victim callbacks and noisy tenants that did not
	// behave as their scenario expects.
	Warnings []string `json:"warnings,omitempty"`
}

// NeighbourScenario is one noisy plugin's results over all rounds.
type NeighbourScenario struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Victim is the victim tenant's load: the default mix at Rate.
	Victim VariantReport `json:"victim"`
	// VictimLagP99US is how late the victim's callbacks left the load
	// generator (waiting for a connection, timer slack), p99, us.
	VictimLagP99US Stat `json:"victim_lag_p99_us"`
	// VictimOutcomes and VictimFailures are the server's counts for the
	// victim over the measured windows (imhook_webhook_calls_total by
	// outcome, imhook_plugin_failures_total by kind): a victim callback
	// answered by the failure policy looks like a valid reply to the load.
	VictimOutcomes map[string]int64 `json:"victim_outcomes"`
	VictimFailures map[string]int64 `json:"victim_failures,omitempty"`
	// P99Ratio is the victim's p99 over its p99 in scenario (a) of the same
	// round, per round (RatioRounds) and as a median and range.
	P99Ratio    Stat      `json:"victim_p99_ratio"`
	RatioRounds []float64 `json:"victim_p99_ratio_per_round"`
	// Noisy is the noisy tenant's load: the before-send callbacks at Rate.
	Noisy          VariantReport    `json:"noisy"`
	NoisyOutcomes  map[string]int64 `json:"noisy_outcomes"`
	NoisyFailures  map[string]int64 `json:"noisy_failures,omitempty"`
	BreakerOpened  uint64           `json:"noisy_breaker_opened"`
	ServerCPUCores Stat             `json:"server_cpu_cores"`

	victim, noisy variant
	cores         []float64
}

// neighbour runs the neighbour measurement: one imhook, the victim tenant
// running the moderation plugin throughout, and for each round and
// scenario a new noisy tenant running the scenario's plugin, both tenants
// under the same open-loop rate.
func (b *bencher) neighbour(ctx context.Context) (*NeighbourReport, error) {
	_, confMap, err := b.moderationConfig()
	if err != nil {
		return nil, err
	}
	arrivals, err := loadgen.ParseArrivals(b.o.arrivals)
	if err != nil {
		return nil, err
	}
	wasm := map[string][]byte{"loop": noisy.Loop, "recursion": noisy.Recursion}
	for name, path := range map[string]string{"moderation": b.o.moderation, "spin": b.o.spin, "heavy": b.o.heavy} {
		if wasm[name], err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s plugin: %w (run make examples bench-guests or pass --%s)", name, err, name)
		}
	}
	var scens []*NeighbourScenario
	for _, s := range neighbourScenarios {
		if slices.Contains(b.o.scenarios, s.key) {
			scens = append(scens, &NeighbourScenario{Key: s.key, Name: s.name,
				victim: variant{key: s.key, name: "victim"}, noisy: variant{key: s.key, name: s.plugin}})
		}
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	mach := machine(b.pin) // the load average before our own load
	c, err := b.startImhook(ctx, "imhook")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := c.createTenant(ctx, victimTenant, confMap); err != nil {
		return nil, err
	}
	if _, err := c.install(ctx, victimTenant, "moderation", wasm["moderation"]); err != nil {
		return nil, err
	}
	rep := &NeighbourReport{Machine: mach, Rounds: b.o.rounds, DurationS: b.o.duration.Seconds(), WarmupS: b.o.warmup.Seconds(),
		Rate: b.o.rate, Arrivals: arrivals.String(), Connections: b.o.connections, Env: b.o.env}
	// An unmeasured round of the benign scenario first: the server's first
	// seconds under both loads (its heap growing, the first instances) set
	// the first round's baseline at 29-83 ms on the VM of 2026-12-06 in
	// every run, which is no neighbour's doing.
	warm := &NeighbourScenario{Key: "a", victim: variant{key: "a", name: "victim"}, noisy: variant{key: "a", name: "moderation"}}
	if err := b.neighbourRound(ctx, c, warm, -1, confMap, wasm["moderation"], arrivals); err != nil {
		return nil, fmt.Errorf("warm-up round: %w", err)
	}
	for r := range b.o.rounds {
		for _, s := range scens {
			if err := b.neighbourRound(ctx, c, s, r, confMap, wasm[s.noisy.name], arrivals); err != nil {
				return nil, fmt.Errorf("scenario[%s] round[%d]: %w", s.Key, r+1, err)
			}
		}
	}
	if m, err := c.metrics(ctx); err == nil {
		rep.CPUSlots = int(gauge(m, "imhook_cpu_slots"))
	}
	b.neighbourReport(rep, scens)
	return rep, nil
}

// neighbourRound runs round r of scenario s: a new noisy tenant with the
// scenario's plugin (so its breaker and its share of the CPU start afresh),
// the victim's warm-up alone, then both loads for the measured window.
func (b *bencher) neighbourRound(ctx context.Context, c *child, s *NeighbourScenario, r int, conf map[string]string,
	wasm []byte, arrivals loadgen.Arrivals) error {
	id := fmt.Sprintf("noisy-%s-%d", s.Key, r+1)
	if err := c.createTenant(ctx, id, conf); err != nil {
		return err
	}
	defer func() { _ = c.deleteTenant(context.WithoutCancel(ctx), id) }()
	up, err := c.install(ctx, id, s.noisy.name, wasm)
	if err != nil {
		return err
	}
	mix := loadgen.DefaultMix()
	noisyMix := slices.DeleteFunc(loadgen.DefaultMix(), func(cb loadgen.Callback) bool {
		return cb.Command != "callbackBeforeSendSingleMsgCommand" && cb.Command != "callbackBeforeSendGroupMsgCommand"
	})
	var before []metricSample
	var beforeErr error
	noisyDone := make(chan error, 1)
	profiled := make(chan error, 1)
	var noisyRes loadgen.Result
	started := false
	vres, err := loadgen.Run(ctx, loadgen.Config{
		URLs: []string{c.base + "/hooks/" + victimTenant}, Mix: mix, Connections: b.o.connections,
		Rate: b.o.rate, Arrivals: arrivals, Seed: victimSeed,
		Duration: b.o.duration, Warmup: b.o.warmup, ServerPID: c.pid(),
		OnMeasure: func() {
			before, beforeErr = c.metrics(ctx)
			started = true
			go func() { profiled <- b.profileServer(ctx, c, fmt.Sprintf("neighbour-%s-round%d.pprof", s.Key, r+1)) }()
			go func() {
				var err error
				noisyRes, err = loadgen.Run(ctx, loadgen.Config{
					URLs: []string{c.base + "/hooks/" + id}, Mix: noisyMix, Connections: b.o.connections,
					Rate: b.o.rate, Arrivals: arrivals, Seed: noisySeed, Duration: b.o.duration,
				})
				noisyDone <- err
			}()
		},
	})
	if started {
		if nerr := <-noisyDone; err == nil {
			err = nerr
		}
		if perr := <-profiled; err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	after, err := c.metrics(ctx)
	if err = errors.Join(beforeErr, err); err != nil {
		return err
	}
	st, err := c.stats(ctx, id)
	if err != nil {
		return err
	}
	if st.Stats != nil {
		for _, p := range st.Stats.Plugins {
			if p.Breaker != nil {
				s.BreakerOpened += p.Breaker.Opened
			}
		}
	}
	const calls, failures = "imhook_webhook_calls_total", "imhook_plugin_failures_total"
	s.VictimOutcomes = addDelta(s.VictimOutcomes, sumBy(after, calls, victimTenant, "outcome"), sumBy(before, calls, victimTenant, "outcome"))
	s.VictimFailures = addDelta(s.VictimFailures, sumBy(after, failures, victimTenant, "kind"), sumBy(before, failures, victimTenant, "kind"))
	s.NoisyOutcomes = addDelta(s.NoisyOutcomes, sumBy(after, calls, id, "outcome"), sumBy(before, calls, id, "outcome"))
	s.NoisyFailures = addDelta(s.NoisyFailures, sumBy(after, failures, id, "kind"), sumBy(before, failures, id, "kind"))
	s.victim.rounds = append(s.victim.rounds, vres)
	s.noisy.rounds = append(s.noisy.rounds, noisyRes)
	cores := 0.0
	if vres.Elapsed > 0 {
		cores = vres.ServerCPU.Seconds() / vres.Elapsed.Seconds()
	}
	s.cores = append(s.cores, cores)
	b.logf("round %d %s: noisy %s up in %s; victim p50 %s p99 %s errors %d; noisy p99 %s, outcomes %v; server %.2f cores",
		r+1, s.Key, s.noisy.name, up.Round(time.Millisecond), vres.P50, vres.P99, vres.Errors, noisyRes.P99,
		sumBy(after, calls, id, "outcome"), cores)
	return nil
}

// profileServer writes a CPU profile of the server over the measured
// window to --profile's directory, as name; nothing without --profile.
func (b *bencher) profileServer(ctx context.Context, c *child, name string) error {
	if b.o.profile == "" {
		return nil
	}
	sec := min(max(int(b.o.duration.Round(time.Second)/time.Second), 1), 50) // host/pprof.go's bound
	raw, _, err := c.api.do(ctx, apiRequest{method: "GET", path: fmt.Sprintf("/debug/pprof/profile?seconds=%d", sec)})
	if err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	if err := os.MkdirAll(b.o.profile, 0o755); err != nil {
		return fmt.Errorf("--profile: %w", err)
	}
	path := filepath.Join(b.o.profile, name)
	b.logf("CPU profile of the server: %s", path)
	return os.WriteFile(path, raw, 0o644)
}

// addDelta adds after-before, per key, to into (allocated when nil).
func addDelta(into, after, before map[string]int64) map[string]int64 {
	if into == nil {
		into = map[string]int64{}
	}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			into[k] += d
		}
	}
	return into
}

// neighbourReport sums up the rounds of each scenario into rep and checks
// the target: each scenario's victim p99 against (a)'s of the same round.
func (b *bencher) neighbourReport(rep *NeighbourReport, scens []*NeighbourScenario) {
	var base *NeighbourScenario
	for _, s := range scens {
		s.Victim, s.Noisy = report(&s.victim), report(&s.noisy)
		// The server's CPU is both tenants': it is reported as
		// ServerCPUCores, not per victim callback.
		s.Victim.CPUPerCallUS = Stat{}
		var lag []float64
		for _, x := range s.victim.rounds {
			lag = append(lag, float64(x.LagP99)/float64(time.Microsecond))
		}
		s.VictimLagP99US, s.ServerCPUCores = statOf(lag), statOf(s.cores)
		if s.Key == "a" {
			base = s
		}
	}
	for _, s := range scens {
		if base == nil {
			break
		}
		for i := range min(len(s.Victim.rounds), len(base.Victim.rounds)) {
			if a := base.Victim.rounds[i].P99; a > 0 {
				s.RatioRounds = append(s.RatioRounds, float64(s.Victim.rounds[i].P99)/float64(a))
			}
		}
		s.P99Ratio = statOf(s.RatioRounds)
		if s == base {
			continue
		}
		var per []string
		for _, x := range s.RatioRounds {
			per = append(per, fmt.Sprintf("%.2f %s", x, verdict(x <= targetNeighbourP99)))
		}
		rep.Targets = append(rep.Targets, Target{
			Name: fmt.Sprintf("(%s) %s: victim p99 / (a)'s", s.Key, s.noisy.name), Value: s.P99Ratio.Median, Unit: "x",
			Limit: fmt.Sprintf("<= %.1fx", targetNeighbourP99), Met: s.P99Ratio.Median <= targetNeighbourP99,
			Detail: fmt.Sprintf("victim p99 %.0fus vs %.0fus; per round %s", s.Victim.P99US.Median, base.Victim.P99US.Median, strings.Join(per, ", ")),
		})
	}
	// The baseline is the victim with a benign neighbour: rounds of it far
	// apart mean the machine, not the neighbour, set some of the latencies,
	// and a ratio to a disturbed round says little either way.
	if base != nil && base.Victim.P99US.Max > disturbedBaseline*base.Victim.P99US.Min {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("scenario[a]: the victim's p99 with a benign neighbour ranged %.0fus-%.0fus over the rounds: "+
			"other load on the machine disturbed some of them, and their ratios mean little (rerun on a quiet machine)", base.Victim.P99US.Min, base.Victim.P99US.Max))
	}
	for _, s := range scens {
		rep.Scenarios = append(rep.Scenarios, *s)
		v := s.Victim
		if v.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("scenario[%s]: %d of %d victim callbacks failed; first: %s", s.Key, v.Errors, v.Requests, v.FirstError))
		}
		if n := s.VictimOutcomes["policy"] + s.VictimOutcomes["overloaded"]; n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("scenario[%s]: %d victim callbacks got the failure policy instead of the plugin's answer (failures %v)",
				s.Key, n, s.VictimFailures))
		}
		burns := s.Key == "b" || s.Key == "c" || s.Key == "d"
		switch {
		case burns && s.NoisyFailures["cpu_time"] == 0:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("scenario[%s]: the noisy plugin never ran out of its budget (failures %v)", s.Key, s.NoisyFailures))
		case !burns && (s.NoisyFailures["cpu_time"] > 0 || s.BreakerOpened > 0):
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("scenario[%s]: the noisy plugin should never fail; failures %v, breaker opened %d times",
				s.Key, s.NoisyFailures, s.BreakerOpened))
		}
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func (r *NeighbourReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --neighbour: %d rounds x %gs (after an unmeasured benign round, and %gs of victim-only warm-up in each), %.0f callbacks/s per tenant (%s arrivals), "+
		"%d connections per tenant, %d CPUs (%s), %s, pinned %v, %d cpu slots, load %s at start\n\n",
		r.Rounds, r.DurationS, r.WarmupS, r.Rate, r.Arrivals, r.Connections, m.CPUs, m.CPUModel, m.GoVersion, m.Pinned, r.CPUSlots, m.Load1)
	if len(r.Env) > 0 {
		fmt.Fprintf(w, "server settings: %s\n\n", strings.Join(r.Env, " "))
	}
	fmt.Fprintln(w, "victim: tenant running the moderation plugin, the default mix")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "noisy neighbour\tp50\tp99\tp999\tp99 / (a)\tsend lag p99\terrors\tpolicy\tserver CPU")
	for _, s := range r.Scenarios {
		v := s.Victim
		fmt.Fprintf(tw, "(%s) %s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%s\n", s.Key, s.Name,
			fmtStat(v.P50US, "%.0fus"), fmtStat(v.P99US, "%.0fus"), fmtStat(v.P999US, "%.0fus"),
			fmtStat(s.P99Ratio, "%.2f"), fmtStat(s.VictimLagP99US, "%.0fus"), v.Errors, v.Requests,
			s.VictimOutcomes["policy"]+s.VictimOutcomes["overloaded"], fmtStat(s.ServerCPUCores, "%.2f"))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nnoisy tenant: a new tenant per round, the before-send callbacks of the mix")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "noisy neighbour\tp99\tcallbacks\tplugin answered\tpolicy\tfailures\tbreaker opened")
	for _, s := range r.Scenarios {
		n := s.Noisy
		fmt.Fprintf(tw, "(%s) %s\t%s\t%d\t%d\t%d\t%s\t%d\n", s.Key, s.Noisy.Name, fmtStat(n.P99US, "%.0fus"), n.Requests,
			s.NoisyOutcomes["ok"]+s.NoisyOutcomes["stopped"], s.NoisyOutcomes["policy"]+s.NoisyOutcomes["overloaded"],
			fmtCounts(s.NoisyFailures), s.BreakerOpened)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nmedian [min-max] over rounds; p99 / (a) is per round, against (a) of the same round; policy counts callbacks the failure policy answered")
	printTargets(w, r.Targets)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}

// fmtCounts prints counts by key, sorted: "busy 12, cpu_time 5", or "-".
func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(out, ", ")
}
