package main

// imhook bench --compare: native Go against imhook, variant by variant and
// round by round, and where the targets of docs/performance.md stand.

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/baseline"
	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

// Targets of issue 5, checked by --compare.
const (
	targetThroughputRatio = 0.75                 // (b)/(a) throughput, at least
	targetHostCPU         = 3 * time.Microsecond // (c)-(n) CPU per callback, at most
	targetUploadToActive  = 2 * time.Second      // for a ~3 MB Go plugin, at most
)

// CompareReport is the result of --compare.
type CompareReport struct {
	Machine     Machine         `json:"machine"`
	Rounds      int             `json:"rounds"`
	DurationS   float64         `json:"round_duration_s"`
	Connections int             `json:"connections"`
	Variants    []VariantReport `json:"variants"`
	// ThroughputRatio is (b)/(a) per round.
	ThroughputRatio Stat `json:"throughput_ratio_b_over_a"`
	// CPUDeltaUS is (c)-(n) server CPU per callback per round, HostDeltaUS
	// (h)-(n), in microseconds.
	CPUDeltaUS  Stat `json:"cpu_delta_c_minus_n_us"`
	HostDeltaUS Stat `json:"cpu_delta_h_minus_n_us"`
	// ASThroughputRatio is (as)/(a) per round, the AssemblyScript plugin's
	// variant; Modules what each moderation plugin costs besides its calls.
	ASThroughputRatio Stat         `json:"throughput_ratio_as_over_a"`
	Modules           []ModuleCost `json:"modules,omitempty"`
	Targets           []Target     `json:"targets"`
	// Warnings are failed callbacks and unexpected verdicts.
	Warnings []string `json:"warnings,omitempty"`
}

// compare runs the side-by-side comparison.
func (b *bencher) compare(ctx context.Context) (*CompareReport, error) {
	conf, confMap, err := b.moderationConfig()
	if err != nil {
		return nil, err
	}
	modWasm, err := os.ReadFile(b.o.moderation)
	if err != nil {
		return nil, fmt.Errorf("moderation plugin: %w (run make examples or pass --moderation)", err)
	}
	trivWasm, err := os.ReadFile(b.o.trivial)
	if err != nil {
		return nil, fmt.Errorf("trivial plugin: %w (run make examples or pass --trivial)", err)
	}
	asWasm, err := b.loadModerationAS()
	if err != nil {
		return nil, err
	}
	if err := b.pinSelf(); err != nil {
		return nil, err
	}
	mach := machine(b.pin) // the load average before our own load
	// What each moderation module costs the host, before any server runs.
	var modules []ModuleCost
	for _, m := range []struct {
		name string
		wasm []byte
	}{{"moderation", modWasm}, {"moderation-as", asWasm}} {
		if m.wasm == nil {
			continue
		}
		b.logf("measuring module %s", m.name)
		mc, err := b.measureModule(ctx, m.name, m.wasm, confMap)
		if err != nil {
			return nil, fmt.Errorf("module[%s]: %w", m.name, err)
		}
		modules = append(modules, mc)
	}
	vs := []*variant{
		{key: "a", name: "native Go + encoding/json (moderation)"},
		{key: "b", name: "imhook + moderation plugin"},
		{key: "c", name: "imhook + trivial plugin"},
		{key: "n", name: "native neutral reply only"},
		{key: "h", name: "imhook + no-op raw-ABI plugin (host only)"},
	}
	if asWasm != nil {
		vs = append(vs, &variant{key: "as", name: "imhook + moderation-as plugin (AssemblyScript)"})
	}
	defer func() {
		for _, v := range vs {
			if v.child != nil {
				v.child.stop()
			}
		}
	}()
	upload, err := b.startCompared(ctx, vs, conf, confMap, modWasm, trivWasm, asWasm)
	if err != nil {
		return nil, err
	}
	mix := loadgen.DefaultMix()
	for r := range b.o.rounds {
		for _, v := range vs {
			res, err := b.round(ctx, v.child, mix)
			if err != nil {
				return nil, fmt.Errorf("variant[%s] round[%d]: %w", v.key, r+1, err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			b.logf("round %d %s: %.0f/s p99 %s cpu %s/callback errors %d", r+1, v.key, res.Throughput, res.P99, res.CPUPerCallback, res.Errors)
			v.rounds = append(v.rounds, res)
		}
	}
	rep := b.compareReport(mach, vs, upload, len(modWasm))
	rep.Modules = modules
	rep.Targets = append(rep.Targets, asTargets(rep)...)
	return rep, nil
}

// moderationConfig returns the configuration of the tenants running the
// moderation plugin: --config, by default banned_words=loadgen.BannedWord,
// as flags and parsed.
func (b *bencher) moderationConfig() ([]string, map[string]string, error) {
	conf := b.o.config
	if len(conf) == 0 {
		conf = []string{"banned_words=" + loadgen.BannedWord}
	}
	m, err := configMap(conf)
	return conf, m, err
}

// startCompared starts the server of each variant of vs (a, b, c, n, h, and
// as when asWasm is set): the native ones, then the imhook ones with
// benchTenant configured with conf (confMap parsed) and running its plugin.
// It returns the upload-to-active time of (b).
func (b *bencher) startCompared(ctx context.Context, vs []*variant, conf []string, confMap map[string]string,
	modWasm, trivWasm, asWasm []byte) (time.Duration, error) {
	var err error
	if vs[0].child, err = b.startBaseline(ctx, "moderation", conf); err != nil {
		return 0, err
	}
	if vs[3].child, err = b.startBaseline(ctx, "neutral", nil); err != nil {
		return 0, err
	}
	var upload time.Duration
	imhooks := []*variant{vs[1], vs[2], vs[4]}
	if len(vs) > 5 {
		imhooks = append(imhooks, vs[5])
	}
	for _, v := range imhooks {
		if v.child, err = b.startImhook(ctx, "imhook-"+v.key); err != nil {
			return 0, err
		}
		if err := v.child.createTenant(ctx, benchTenant, confMap); err != nil {
			return 0, err
		}
		wasm, name := modWasm, "moderation"
		switch v.key {
		case "c":
			wasm, name = trivWasm, "trivial"
		case "h":
			wasm, name = baseline.NoopPlugin, "noop"
		case "as":
			wasm, name = asWasm, "moderation-as"
		}
		d, err := v.child.install(ctx, benchTenant, name, wasm)
		if err != nil {
			return 0, err
		}
		if v.key == "b" {
			upload = d
		}
		b.logf("%s: upload to active %s", v.child.name, d.Round(time.Millisecond))
	}
	return upload, nil
}

// compareReport sums up the rounds of vs and checks the targets; modSize is
// the moderation plugin's size in bytes.
func (b *bencher) compareReport(mach Machine, vs []*variant, upload time.Duration, modSize int) *CompareReport {
	rep := &CompareReport{Machine: mach, Rounds: b.o.rounds, DurationS: b.o.duration.Seconds(), Connections: b.o.connections}
	for _, v := range vs {
		rep.Variants = append(rep.Variants, report(v))
	}
	a, bb, c, n, h := rep.Variants[0], rep.Variants[1], rep.Variants[2], rep.Variants[3], rep.Variants[4]
	var ratios []float64
	for i := range a.throughputRaw {
		ratios = append(ratios, bb.throughputRaw[i]/a.throughputRaw[i])
	}
	rep.ThroughputRatio = statOf(ratios)
	// CPU differences per round, like the ratio: the variants of a round ran
	// back to back, so a slow stretch of the machine moves both sides.
	cpuDelta, hostDelta := roundDeltas(c, n), roundDeltas(h, n)
	rep.CPUDeltaUS, rep.HostDeltaUS = cpuDelta, hostDelta
	rep.Targets = []Target{
		{Name: "(b)/(a) throughput, every safety limit on", Value: rep.ThroughputRatio.Median, Unit: "x",
			Limit: ">= 0.75", Met: rep.ThroughputRatio.Median >= targetThroughputRatio,
			Detail: fmt.Sprintf("per round %.2f-%.2f", rep.ThroughputRatio.Min, rep.ThroughputRatio.Max)},
		{Name: "(c)-(n) server CPU per callback", Value: cpuDelta.Median, Unit: "us",
			Limit: "<= 3 us", Met: cpuDelta.Median <= float64(targetHostCPU)/float64(time.Microsecond),
			Detail: fmt.Sprintf("per round %.2f-%.2f: the host and the SDK's decoding in the guest", cpuDelta.Min, cpuDelta.Max)},
		{Name: "(h)-(n) the same, host alone (no-op plugin)", Value: hostDelta.Median, Unit: "us",
			Limit: "<= 3 us", Met: hostDelta.Median <= float64(targetHostCPU)/float64(time.Microsecond),
			Detail: fmt.Sprintf("per round %.2f-%.2f", hostDelta.Min, hostDelta.Max)},
		{Name: "upload to active, moderation plugin", Value: float64(upload) / float64(time.Millisecond), Unit: "ms",
			Limit: "<= 2000 ms", Met: upload <= targetUploadToActive,
			Detail: fmt.Sprintf("%.2f MB Go plugin, admin upload until serving", float64(modSize)/1e6)},
	}
	// Failed callbacks and verdicts that differ from the mix's are reported,
	// not fatal: under load a call can hit its time limit and get the
	// failure-policy reply, which is the sandbox doing its job.
	for _, v := range rep.Variants {
		if v.Errors > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("variant[%s]: %d of %d callbacks failed; first: %s", v.Key, v.Errors, v.Requests, v.FirstError))
		}
	}
	if len(rep.Variants) > 5 {
		as := rep.Variants[5]
		var r []float64
		for i := range min(len(a.throughputRaw), len(as.throughputRaw)) {
			r = append(r, as.throughputRaw[i]/a.throughputRaw[i])
		}
		rep.ASThroughputRatio = statOf(r)
		if as.Stopped != as.Refusable {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("stop replies of (as) differ from the mix's banned messages: %d of %d", as.Stopped, as.Refusable))
		}
	}
	if a.Stopped != a.Refusable || bb.Stopped != bb.Refusable || c.Stopped != 0 || n.Stopped != 0 || h.Stopped != 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("stop replies differ from the mix's banned messages: a %d of %d, b %d of %d, c %d, n %d, h %d "+
			"(a plugin call past its time limit is answered by the fail-open policy)", a.Stopped, a.Refusable, bb.Stopped, bb.Refusable, c.Stopped, n.Stopped, h.Stopped))
	}
	return rep
}

// roundDeltas is the median and range over rounds of x's CPU per callback
// minus base's in the same round.
func roundDeltas(x, base VariantReport) Stat {
	var d []float64
	for i := range min(len(x.cpuRaw), len(base.cpuRaw)) {
		d = append(d, x.cpuRaw[i]-base.cpuRaw[i])
	}
	return statOf(d)
}

func (r *CompareReport) print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "imhook bench --compare: %d rounds x %gs, %d connections, %d CPUs (%s), %s, pinned %v, load %s at start\n\n",
		r.Rounds, r.DurationS, r.Connections, m.CPUs, m.CPUModel, m.GoVersion, m.Pinned, m.Load1)
	printVariants(w, func(v VariantReport) string { return "(" + v.Key + ") " + v.Name }, r.Variants...)
	fmt.Fprintln(w, "\nmedian [min-max] over rounds; cpu/callback is the server's utime+stime per callback")
	printModules(w, r.Modules)
	printTargets(w, r.Targets)
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
}
