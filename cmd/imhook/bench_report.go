package main

// What the modes of imhook bench report: medians and ranges over rounds,
// the targets of docs/performance.md and the machine, with their tables.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
)

const variantsHeader = "variant\tthroughput/s\tp50\tp99\tp999\tcpu/callback\tRSS\terrors"

// variant is one server of a comparison and its rounds.
type variant struct {
	key, name string
	child     *child
	rounds    []loadgen.Result
}

// Stat is a median and a range over rounds.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statOf(vs []float64) Stat {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s) == 0 {
		return Stat{}
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// VariantReport is one variant's results over all rounds. Durations are in
// microseconds, memory in MiB.
type VariantReport struct {
	Key           string `json:"key"`
	Name          string `json:"name"`
	Throughput    Stat   `json:"throughput_per_s"`
	P50US         Stat   `json:"p50_us"`
	P99US         Stat   `json:"p99_us"`
	P999US        Stat   `json:"p999_us"`
	CPUPerCallUS  Stat   `json:"cpu_per_callback_us"`
	RSSMiB        Stat   `json:"rss_mib"`
	Requests      int64  `json:"requests"`
	Errors        int64  `json:"errors"`
	Stopped       int64  `json:"stopped"`
	Refusable     int64  `json:"refusable"`
	FirstError    string `json:"first_error,omitempty"`
	rounds        []loadgen.Result
	throughputRaw []float64
	cpuRaw        []float64 // CPU per callback of each round, us
}

func report(v *variant) VariantReport {
	r := VariantReport{Key: v.key, Name: v.name, rounds: v.rounds}
	var thr, p50, p99, p999, cpu, rss []float64
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	for _, x := range v.rounds {
		thr = append(thr, x.Throughput)
		p50, p99, p999 = append(p50, us(x.P50)), append(p99, us(x.P99)), append(p999, us(x.P999))
		cpu = append(cpu, us(x.ServerCPU)/max(float64(x.Requests), 1))
		rss = append(rss, float64(x.ServerRSS)/(1<<20))
		r.Requests += x.Requests
		r.Errors += x.Errors
		r.Stopped += x.Stopped
		r.Refusable += x.Refusable
		if r.FirstError == "" {
			r.FirstError = x.FirstError
		}
	}
	r.Throughput, r.P50US, r.P99US, r.P999US = statOf(thr), statOf(p50), statOf(p99), statOf(p999)
	r.CPUPerCallUS, r.RSSMiB = statOf(cpu), statOf(rss)
	r.throughputRaw, r.cpuRaw = thr, cpu
	return r
}

// Target is one target of issue 5 and where it stands.
type Target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Limit  string  `json:"limit"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	Pinned    bool   `json:"pinned"`
	Load1     string `json:"load1_at_start"`
}

func machine(pinned bool) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Pinned: pinned}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load1, _, _ = strings.Cut(string(b), " ")
	}
	return m
}

// printVariants prints the variants as a table, one row each, named by label.
func printVariants(w io.Writer, label func(VariantReport) string, vs ...VariantReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, variantsHeader)
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", label(v),
			fmtStat(v.Throughput, "%.0f"), fmtStat(v.P50US, "%.0fus"), fmtStat(v.P99US, "%.0fus"),
			fmtStat(v.P999US, "%.0fus"), fmtStat(v.CPUPerCallUS, "%.1fus"), fmtStat(v.RSSMiB, "%.0fMiB"), v.Errors, v.Requests)
	}
	tw.Flush()
}

func fmtStat(s Stat, format string) string {
	return fmt.Sprintf(format+" ["+format+"-"+format+"]", s.Median, s.Min, s.Max)
}

func printTargets(w io.Writer, ts []Target) {
	fmt.Fprintln(w, "\ntargets:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		verdict := "MISSED"
		if t.Met {
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s\t%.2f %s\t(target %s)\t%s\t%s\n", t.Name, t.Value, t.Unit, t.Limit, verdict, t.Detail)
	}
	tw.Flush()
}
