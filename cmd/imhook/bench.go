package main

// imhook bench: the side-by-side benchmark of docs/performance.md, a load
// test of one plugin, and the many-tenants memory measurement. Every server
// is a child process on loopback (imhook serve, or the native baseline
// through the hidden --serve-baseline mode); the load comes from this
// process (cmd/imhook/internal/loadgen). Nothing listens off loopback and
// every run is bounded in time.
//
// This file is the command: its flags, their check and the choice of mode.
// Each mode has its file (bench_compare.go, bench_plugin.go,
// bench_tenants.go, bench_baseline.go); bench_child.go runs and drives the
// servers, bench_install.go sets up their tenants and plugins, and
// bench_report.go holds what the modes report.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

const (
	benchTenant      = "bench" // the tenant of --compare and --plugin
	defaultMemActive = 100     // --active
)

// benchOptions are the flags of imhook bench.
type benchOptions struct {
	compare     bool
	neighbour   bool
	rate        float64
	arrivals    string
	scenarios   []string
	spin        string
	heavy       string
	plugin      string
	command     string
	body        string
	tenants     int
	active      int
	config      []string
	rounds      int
	duration    time.Duration
	warmup      time.Duration
	connections int
	imhook      string
	env         []string
	serverLog   string
	profile     string // --neighbour: directory of CPU profiles
	moderation  string
	trivial     string
	// moderationAS is the AssemblyScript moderation plugin of --compare's
	// variant (as); moderationASSet whether --moderation-as was given.
	moderationAS    string
	moderationASSet bool
	pin             bool
	json            bool
	verbose         bool

	serveBaseline string // hidden: run the native baseline server
	addr          string // hidden: its listen address
}

// benchMain runs imhook bench.
func benchMain(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	var o benchOptions
	fs := pflag.NewFlagSet("imhook bench", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage:
  imhook bench --compare [flags]                 native vs imhook, the targets of docs/performance.md
  imhook bench --neighbour [--rate 500] [flags]  a well-behaved tenant's latency next to a noisy one
  imhook bench --plugin x.wasm --command C --body file.json [--config k=v] [flags]
                                                 load-test your plugin on a local imhook
  imhook bench --tenants 1000 --active 100       memory of many tenants

Servers run as child processes on loopback (pinned to core 0 and the load to
core 1 when taskset exists and there are 2 cores or more).

Flags:
`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.compare, "compare", false, "run the side-by-side comparison: (a) native Go, (b) imhook + moderation plugin, (c) imhook + trivial plugin, (n) native neutral reply, (h) imhook + no-op raw-ABI plugin")
	fs.BoolVar(&o.neighbour, "neighbour", false, "measure a victim tenant (moderation plugin) next to a noisy one: (a) benign, (b) loop, (c) deep recursion, (d) spinning Go guest, (e) heavy Go guest; open loop at --rate for both")
	fs.Float64Var(&o.rate, "rate", 500, "with --neighbour: callbacks per second sent to each tenant (open loop)")
	fs.StringVar(&o.arrivals, "arrivals", "poisson", "with --neighbour: how callbacks are spaced, poisson or uniform")
	fs.StringSliceVar(&o.scenarios, "scenarios", []string{"a", "b", "c", "d", "e"}, "with --neighbour: the scenarios to run (a, the baseline, always)")
	fs.StringVar(&o.spin, "spin", filepath.Join("build", "guests", "spin.wasm"), "with --neighbour: the spinning Go guest (make bench-guests)")
	fs.StringVar(&o.heavy, "heavy", filepath.Join("build", "guests", "heavy.wasm"), "with --neighbour: the heavy Go guest (make bench-guests)")
	fs.StringVar(&o.plugin, "plugin", "", "load-test this plugin (.wasm) on a local imhook")
	fs.StringVar(&o.command, "command", "", "with --plugin: the callback command to send")
	fs.StringVar(&o.body, "body", "", "with --plugin: file holding the callback's JSON body")
	fs.IntVar(&o.tenants, "tenants", 0, "measure memory with this many tenants registered (e.g. 1000)")
	fs.IntVar(&o.active, "active", defaultMemActive, "with --tenants: how many of them run the moderation plugin and get callbacks")
	fs.StringArrayVar(&o.config, "config", nil, "plugin configuration key=value (repeatable); --compare uses banned_words="+loadgen.BannedWord)
	fs.IntVar(&o.rounds, "rounds", 5, "measured rounds per variant (the report gives the median and the range)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time of one round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each round")
	fs.IntVar(&o.connections, "connections", 16, "keep-alive connections, one callback in flight on each (per tenant with --neighbour)")
	fs.StringVar(&o.imhook, "imhook", "", "imhook binary to run as the server (default: this executable)")
	fs.StringArrayVar(&o.env, "env", nil, "IMHOOK_KEY=value (docs/config.md) or GO...=value (Go's runtime) for the imhook servers (repeatable), e.g. IMHOOK_SANDBOX__CPU_SLOTS=1, GOMAXPROCS=2")
	fs.StringVar(&o.profile, "profile", "", "with --neighbour: write a CPU profile of the server per scenario and round, taken over the measured window, to this directory (go tool pprof)")
	fs.StringVar(&o.serverLog, "server-log", "", "append the imhook servers' output to this file (e.g. with --env GODEBUG=schedtrace=100)")
	fs.StringVar(&o.moderation, "moderation", filepath.Join("build", "examples", "moderation.wasm"), "the moderation example (make examples)")
	fs.StringVar(&o.trivial, "trivial", filepath.Join("build", "examples", "trivial.wasm"), "the trivial example (make examples)")
	fs.StringVar(&o.moderationAS, "moderation-as", filepath.Join("build", "examples", "moderation-as.wasm"), "with --compare: the AssemblyScript moderation example, variant (as) (make examples-as; left out when the default file is missing)")
	fs.BoolVar(&o.pin, "pin", true, "pin server and load to different cores with taskset when possible")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVarP(&o.verbose, "verbose", "v", false, "print progress to stderr")
	fs.StringVar(&o.serveBaseline, "serve-baseline", "", "run the native baseline server: moderation or neutral")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "with --serve-baseline: listen address (loopback)")
	_ = fs.MarkHidden("serve-baseline")
	_ = fs.MarkHidden("addr")
	if err := parseArgs(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "imhook bench: %v\nRun 'imhook bench --help' for usage.\n", err)
		return exitUsage
	}
	o.moderationASSet = fs.Changed("moderation-as")
	if err := o.check(fs.NArg()); err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	if o.serveBaseline != "" {
		return serveBaselineMain(ctx, o, stdout, stderr)
	}
	b, err := newBencher(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitUsage
	}
	var rep benchReport
	switch {
	case o.compare:
		rep, err = b.compare(ctx)
	case o.neighbour:
		rep, err = b.neighbour(ctx)
	case o.tenants > 0:
		rep, err = b.memory(ctx)
	default:
		rep, err = b.pluginLoad(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "imhook bench: %v\n", err)
		return exitAPI
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(stdout)
	}
	return exitOK
}

// check validates the flag combination.
func (o *benchOptions) check(nargs int) error {
	modes := 0
	for _, on := range []bool{o.compare, o.neighbour, o.plugin != "", o.tenants > 0, o.serveBaseline != ""} {
		if on {
			modes++
		}
	}
	switch {
	case nargs > 0:
		return errors.New("no positional arguments expected")
	case modes != 1:
		return errors.New("choose one of --compare, --neighbour, --plugin or --tenants")
	case o.plugin != "" && (o.command == "" || o.body == ""):
		return errors.New("--plugin needs --command and --body")
	case o.serveBaseline != "" && o.serveBaseline != "moderation" && o.serveBaseline != "neutral":
		return fmt.Errorf("--serve-baseline[%s]: want moderation or neutral", o.serveBaseline)
	case o.rounds < 1 || o.connections < 1 || o.duration <= 0 || o.warmup < 0:
		return errors.New("--rounds, --connections and --duration must be positive, --warmup not negative")
	case time.Duration(o.rounds)*(o.duration+o.warmup)*4 > 2*time.Hour:
		return errors.New("--rounds x (--duration + --warmup) is over the 2h bound of a comparison")
	case o.tenants > 0 && (o.active < 1 || o.active > o.tenants):
		return fmt.Errorf("--active[%d] must be between 1 and --tenants[%d]", o.active, o.tenants)
	case slices.ContainsFunc(o.env, func(kv string) bool {
		k, _, ok := strings.Cut(kv, "=")
		return !ok || !strings.HasPrefix(k, "IMHOOK_") && !strings.HasPrefix(k, "GO")
	}):
		return errors.New("--env: want IMHOOK_KEY=value or a Go runtime variable such as GOMAXPROCS=2")
	case o.neighbour && (o.rate <= 0 || o.rate > loadgen.MaxRate):
		return fmt.Errorf("--rate[%g]: want 1 to %d callbacks per second", o.rate, loadgen.MaxRate)
	case o.profile != "" && !o.neighbour:
		return errors.New("--profile goes with --neighbour: it profiles the server during each scenario's measured window")
	case o.neighbour && !slices.Contains(o.scenarios, "a"):
		return errors.New("--scenarios must hold a, the benign baseline the others are compared with")
	}
	if o.neighbour {
		if _, err := loadgen.ParseArrivals(o.arrivals); err != nil {
			return fmt.Errorf("--arrivals[%s]: want poisson or uniform", o.arrivals)
		}
		for _, s := range o.scenarios {
			if !slices.ContainsFunc(neighbourScenarios, func(n neighbourScenario) bool { return n.key == s }) {
				return fmt.Errorf("--scenarios: unknown scenario[%s]: want a, b, c, d or e", s)
			}
		}
	}
	if o.serveBaseline != "" {
		host, _, err := net.SplitHostPort(o.addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("--addr[%s]: the baseline listens on loopback only", o.addr)
		}
	}
	return nil
}

// configMap parses the repeated --config key=value flags.
func configMap(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config[%s]: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// benchReport is the result of a mode, printed for people or, with --json,
// encoded as JSON.
type benchReport interface {
	print(w io.Writer)
}
