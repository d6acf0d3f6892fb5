package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// benchBuild holds the imhook binary, the two examples the comparison runs
// and the Go guests of --neighbour, built once for the tests of this file.
var benchBuild struct {
	once                                     sync.Once
	err                                      error
	binary, moderation, trivial, spin, heavy string
}

func buildBench(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds imhook and four wasm plugins and runs servers; skipped in -short mode")
	}
	benchBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "imhook-bench-test-")
		if err != nil {
			benchBuild.err = err
			return
		}
		buildDirs = append(buildDirs, dir)
		b := &benchBuild
		b.binary = filepath.Join(dir, "imhook")
		b.moderation = filepath.Join(dir, "moderation.wasm")
		b.trivial = filepath.Join(dir, "trivial.wasm")
		b.spin, b.heavy = filepath.Join(dir, "spin.wasm"), filepath.Join(dir, "heavy.wasm")
		if out, err := exec.Command("go", "build", "-o", b.binary, ".").CombinedOutput(); err != nil {
			b.err = &buildFailure{"imhook", err, out}
			return
		}
		for path, pkg := range map[string]string{b.moderation: "../../examples/moderation", b.trivial: "../../examples/trivial",
			b.spin: "./internal/noisy/spin", b.heavy: "./internal/noisy/heavy"} {
			if _, err := wasmbuild.Go(context.Background(), pkg, wasmbuild.Options{Output: path}); err != nil {
				b.err = err
				return
			}
		}
	})
	if benchBuild.err != nil {
		t.Fatal(benchBuild.err)
	}
}

type buildFailure struct {
	what string
	err  error
	out  []byte
}

func (e *buildFailure) Error() string {
	return "build " + e.what + ": " + e.err.Error() + "\n" + string(e.out)
}

// runBench runs imhook bench in this process (the servers are children
// running the built binary), unpinned and tiny, and decodes its JSON report.
func runBench(t *testing.T, out any, args ...string) {
	t.Helper()
	args = append([]string{"bench", "--json", "--pin=false", "--imhook", benchBuild.binary,
		"--rounds", "1", "--duration", "300ms", "--warmup", "100ms", "--connections", "2"}, args...)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("imhook %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
}

func TestBenchCompare(t *testing.T) {
	buildBench(t)
	var rep CompareReport
	runBench(t, &rep, "--compare", "--moderation", benchBuild.moderation, "--trivial", benchBuild.trivial)
	if len(rep.Variants) != 5 || len(rep.Targets) != 4 {
		t.Fatalf("report has %d variants and %d targets: %+v", len(rep.Variants), len(rep.Targets), rep)
	}
	for _, v := range rep.Variants {
		if v.Requests == 0 || v.Errors != 0 || v.Throughput.Median <= 0 || v.RSSMiB.Median <= 0 {
			t.Errorf("variant[%s]: %+v", v.Key, v)
		}
	}
	// The mix's banned messages are refused by (a) and (b), not (c), (n) or (h).
	// On a loaded machine a plugin call can pass its 100 ms limit and get
	// the fail-open reply, so (b) may stop fewer than it was sent.
	a, b, c, h := rep.Variants[0], rep.Variants[1], rep.Variants[2], rep.Variants[4]
	if a.Stopped == 0 || a.Stopped != a.Refusable || (b.Refusable > 0 && b.Stopped == 0) || b.Stopped > b.Refusable || c.Stopped != 0 || h.Stopped != 0 {
		t.Errorf("stops: a %d/%d, b %d/%d, c %d, h %d", a.Stopped, a.Refusable, b.Stopped, b.Refusable, c.Stopped, h.Stopped)
	}
	if rep.Targets[3].Value <= 0 {
		t.Errorf("upload to active not measured: %+v", rep.Targets[3])
	}
}

func TestBenchNeighbour(t *testing.T) {
	buildBench(t)
	var rep NeighbourReport
	// The heavy guest must never fail: a backstop of 2 s rather than 100 ms
	// keeps a loaded machine's stalls from ending its calls (the budget is
	// what the scenarios are about).
	runBench(t, &rep, "--neighbour", "--rate", "100", "--moderation", benchBuild.moderation,
		"--spin", benchBuild.spin, "--heavy", benchBuild.heavy, "--env", "IMHOOK_SANDBOX__LIMITS__CALL_TIMEOUT=2s")
	if len(rep.Scenarios) != 5 || len(rep.Targets) != 4 || rep.CPUSlots < 1 {
		t.Fatalf("report has %d scenarios, %d targets, %d cpu slots: %+v", len(rep.Scenarios), len(rep.Targets), rep.CPUSlots, rep)
	}
	// No assertion on the latencies: this checks that every scenario ran,
	// with guests that handle what the noisy tenant is sent (no neutral
	// reply), the runaway ones never answering and the others answering
	// (though on a loaded machine some of their calls may be shed as busy).
	for _, s := range rep.Scenarios {
		answered := s.NoisyOutcomes["ok"] + s.NoisyOutcomes["stopped"]
		burns := s.Key == "b" || s.Key == "c" || s.Key == "d"
		ran := s.Victim.Requests > 0 && s.Victim.Errors == 0 && s.Noisy.Requests > 0 && s.NoisyOutcomes["neutral"] == 0 && len(s.RatioRounds) == 1
		behaved := answered > 0 && s.NoisyFailures["cpu_time"] == 0 && s.NoisyFailures["trap"] == 0
		if burns {
			behaved = answered == 0 && len(s.NoisyFailures) > 0
		}
		if !ran || !behaved {
			t.Errorf("scenario[%s]: victim %d callbacks, %d errors; noisy %d callbacks, outcomes %v, failures %v; ratios %v",
				s.Key, s.Victim.Requests, s.Victim.Errors, s.Noisy.Requests, s.NoisyOutcomes, s.NoisyFailures, s.RatioRounds)
		}
	}
	var out bytes.Buffer
	rep.print(&out)
	for _, want := range []string{
		"imhook bench --neighbour: 1 rounds x 0.3s",
		"\n(a) benign: the moderation plugin ", "\n(d) spinning Go guest ", "\n(e) heavy ",
		"\ntargets:\n", "(b) loop: victim p99 / (a)'s", "(c) recursion: victim p99 / (a)'s",
		"(d) spin: victim p99 / (a)'s", "(e) heavy: victim p99 / (a)'s", "(target <= 1.5x)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchPluginAndTenants(t *testing.T) {
	buildBench(t)
	body := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(body, loadgen.DefaultMix()[1].Body, 0o600); err != nil {
		t.Fatal(err)
	}
	var p PluginReport
	runBench(t, &p, "--plugin", benchBuild.moderation, "--command", "callbackBeforeSendSingleMsgCommand",
		"--body", body, "--config", "banned_words=spam")
	// Every callback is a banned message (but see the fail-open note above).
	if r := p.Result; r.Requests == 0 || r.Errors != 0 || r.Stopped == 0 || r.Stopped > r.Requests || p.UploadToActive <= 0 {
		t.Errorf("plugin report: %+v", p)
	}

	var m MemoryReport
	runBench(t, &m, "--tenants", "4", "--active", "2", "--moderation", benchBuild.moderation)
	if m.Tenants != 4 || m.Active != 2 || m.Callbacks != 2*memCallbacksPerTenant || m.Errors != 0 ||
		m.PeakRSSMiB < m.ReadyRSSMiB || m.StartupMS <= 0 || m.P50MS <= 0 || len(m.Target) != 2 {
		t.Errorf("memory report: %+v", m)
	}
}

func TestBenchUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mode", nil, "imhook bench: choose one of --compare, --neighbour, --plugin or --tenants\n"},
		{"two modes", []string{"--compare", "--tenants", "5"}, "imhook bench: choose one of --compare, --neighbour, --plugin or --tenants\n"},
		{"zero rate", []string{"--neighbour", "--rate", "0"}, "imhook bench: --rate[0]: want 1 to 1000000 callbacks per second\n"},
		{"bad arrivals", []string{"--neighbour", "--arrivals", "bursty"}, "imhook bench: --arrivals[bursty]: want poisson or uniform\n"},
		{"no baseline", []string{"--neighbour", "--scenarios", "b,c"}, "imhook bench: --scenarios must hold a, the benign baseline the others are compared with\n"},
		{"bad env", []string{"--compare", "--env", "PATH=/tmp"}, "imhook bench: --env: want IMHOOK_KEY=value or a Go runtime variable such as GOMAXPROCS=2\n"},
		{"unknown scenario", []string{"--neighbour", "--scenarios", "a,x"}, "imhook bench: --scenarios: unknown scenario[x]: want a, b, c, d or e\n"},
		{"plugin without body", []string{"--plugin", "x.wasm", "--command", "c"}, "imhook bench: --plugin needs --command and --body\n"},
		{"bad baseline", []string{"--serve-baseline", "other"}, "imhook bench: --serve-baseline[other]: want moderation or neutral\n"},
		{"baseline off loopback", []string{"--serve-baseline", "neutral", "--addr", "0.0.0.0:80"}, "imhook bench: --addr[0.0.0.0:80]: the baseline listens on loopback only\n"},
		{"zero rounds", []string{"--compare", "--rounds", "0"}, "imhook bench: --rounds, --connections and --duration must be positive, --warmup not negative\n"},
		{"too long", []string{"--compare", "--rounds", "100", "--duration", "1m"}, "imhook bench: --rounds x (--duration + --warmup) is over the 2h bound of a comparison\n"},
		{"active over tenants", []string{"--tenants", "5", "--active", "6"}, "imhook bench: --active[6] must be between 1 and --tenants[5]\n"},
		{"positional", []string{"--compare", "x"}, "imhook bench: no positional arguments expected\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"bench"}, tc.args...), nil, &stdout, &stderr)
			if code != exitUsage || stderr.String() != tc.want {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, stderr.String(), exitUsage, tc.want)
			}
		})
	}
}

func TestStatOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []float64
		want Stat
	}{
		{nil, Stat{}},
		{[]float64{3}, Stat{3, 3, 3}},
		{[]float64{5, 1, 3}, Stat{3, 1, 5}},
		{[]float64{4, 1, 3, 10}, Stat{3.5, 1, 10}},
	}
	for _, tc := range tests {
		if got := statOf(tc.in); got != tc.want {
			t.Errorf("statOf(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
