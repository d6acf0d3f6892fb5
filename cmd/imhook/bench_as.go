package main

// imhook bench --compare, the AssemblyScript part (issue 18): the
// moderation-as plugin as one more server variant, and what a module costs
// the host apart from its calls (size, compile time, a cold instance, memory
// per loaded plugin), measured in this process through the host's own
// sandbox (package plugins) for the Go and the AssemblyScript plugin alike.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/openim"
)

// Targets of issue 18 for the AssemblyScript plugin.
const (
	targetASThroughputRatio = 1.3                    // (as)/(a) throughput, at least
	targetASSize            = 30 << 10               // bytes, at most
	targetASColdInstance    = 200 * time.Microsecond // at most
)

// ModuleCost is what one plugin module costs the host besides its calls.
type ModuleCost struct {
	Name string `json:"name"`
	Size int    `json:"size_bytes"`
	// CompileMS is Inspect with no compilation cache: wazero's optimizing
	// compiler on the module as the host prepares it (metered), median of runs.
	CompileMS float64 `json:"compile_ms"`
	// WarmCallUS is one callback of the mix (single-chat text) on a warm
	// instance, host side included; ColdCallUS the same callback when every
	// call gets a new instance (max_calls_per_instance 1); ColdInstanceUS is
	// their difference: instantiation, _initialize, and closing.
	WarmCallUS float64 `json:"warm_call_us"`
	// Instructions is what the warm call used of its instruction budget
	// (the metered module's count: the machine's load does not change it).
	Instructions   uint64  `json:"instructions"`
	ColdCallUS     float64 `json:"cold_call_us"`
	ColdInstanceUS float64 `json:"cold_instance_us"`
	// RSSPerPluginKiB is the process's RSS growth per loaded plugin, each in
	// its own tenant sandbox with one live instance, over LoadedPlugins.
	RSSPerPluginKiB float64 `json:"rss_per_loaded_plugin_kib"`
	LoadedPlugins   int     `json:"loaded_plugins"`
}

// moduleRuns is how many times each module measurement is repeated (the
// median is reported).
const moduleRuns = 5

// measureModule measures wasm's ModuleCost in this process, with conf as the
// tenant's configuration.
func (b *bencher) measureModule(ctx context.Context, name string, wasm []byte, conf map[string]string) (ModuleCost, error) {
	mc := ModuleCost{Name: name, Size: len(wasm), LoadedPlugins: 50}
	var compile []float64
	for range moduleRuns {
		e, err := plugins.NewEngine(ctx, plugins.EngineOptions{})
		if err != nil {
			return mc, err
		}
		info, err := e.Inspect(ctx, wasm, limits.Default())
		e.Close(ctx)
		if err != nil {
			return mc, fmt.Errorf("%s: %w", name, err)
		}
		compile = append(compile, float64(info.CompileTime)/float64(time.Millisecond))
	}
	mc.CompileMS = statOf(compile).Median

	cache, err := os.MkdirTemp("", "imhook-bench-cache-")
	if err != nil {
		return mc, err
	}
	defer os.RemoveAll(cache)
	e, err := plugins.NewEngine(ctx, plugins.EngineOptions{CacheDir: cache, MaxInstances: 10 * mc.LoadedPlugins})
	if err != nil {
		return mc, err
	}
	defer e.Close(ctx)
	cb := loadgen.DefaultMix()[0] // single-chat text, the mix's most frequent callback
	req, err := openim.ParseRequest(cb.Command, cb.Body, openim.Limits{})
	if err != nil {
		return mc, err
	}
	wire := req.AppendWire(nil)
	perCall := func(lim limits.Limits, n int) (float64, error) {
		sb, err := e.NewSandbox(plugins.SandboxOptions{ID: "measure-" + strconv.Itoa(lim.MaxCallsPerInstance), Limits: lim, Config: conf})
		if err != nil {
			return 0, err
		}
		defer sb.Close(ctx)
		p, err := sb.Load(ctx, name, wasm)
		if err != nil {
			return 0, err
		}
		var dst []byte
		var runs []float64
		var info plugins.CallInfo
		for range moduleRuns {
			start := time.Now()
			for range n {
				// As the webhook path calls a plugin: the wire format when it takes it.
				if p.Info().WireInput {
					dst, info, err = p.CallWire(ctx, cb.Command, wire, dst[:0])
				} else {
					dst, info, err = p.Call(ctx, cb.Command, cb.Body, dst[:0])
				}
				if err != nil {
					return 0, fmt.Errorf("%s: %w", name, err)
				}
			}
			runs = append(runs, float64(time.Since(start))/float64(time.Microsecond)/float64(n))
		}
		if lim.MaxCallsPerInstance != 1 {
			mc.Instructions = info.Instructions
		}
		return statOf(runs).Median, nil
	}
	lim := limits.Default()
	if mc.WarmCallUS, err = perCall(lim, 2000); err != nil {
		return mc, err
	}
	lim.MaxCallsPerInstance = 1
	n := 200
	if len(wasm) > 1<<20 {
		n = 20 // a Go module takes milliseconds per instance
	}
	if mc.ColdCallUS, err = perCall(lim, n); err != nil {
		return mc, err
	}
	mc.ColdInstanceUS = max(mc.ColdCallUS-mc.WarmCallUS, 0)

	// Memory: load the plugin into LoadedPlugins tenants, one live instance
	// each (the one Load starts), and compare the RSS before and after.
	before := settledRSS()
	var sbs []*plugins.Sandbox
	defer func() {
		for _, sb := range sbs {
			sb.Close(ctx)
		}
	}()
	for i := range mc.LoadedPlugins {
		sb, err := e.NewSandbox(plugins.SandboxOptions{ID: "rss-" + strconv.Itoa(i), Limits: limits.Default(), Config: conf})
		if err != nil {
			return mc, err
		}
		sbs = append(sbs, sb)
		p, err := sb.Load(ctx, name, wasm)
		if err != nil {
			return mc, err
		}
		call := p.Call
		if p.Info().WireInput {
			call, cb.Body = p.CallWire, wire // an AssemblyScript plugin takes nothing else
		}
		if _, _, err := call(ctx, cb.Command, cb.Body, nil); err != nil {
			return mc, err
		}
	}
	mc.RSSPerPluginKiB = float64(settledRSS()-before) / 1024 / float64(mc.LoadedPlugins)
	return mc, nil
}

// settledRSS is this process's resident memory after a garbage collection.
func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// loadModerationAS reads the AssemblyScript moderation plugin of --moderation-as.
// A missing file at the default path leaves the variant out (nil, nil): make
// bench builds it with node; without node there is none.
func (b *bencher) loadModerationAS() ([]byte, error) {
	wasm, err := os.ReadFile(b.o.moderationAS)
	if errors.Is(err, fs.ErrNotExist) && !b.o.moderationASSet {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("AssemblyScript moderation plugin: %w (run make examples-as, which needs node and npm, or pass --moderation-as)", err)
	}
	return wasm, nil
}

// asTargets are the targets of issue 18, from the variants and module costs.
func asTargets(rep *CompareReport) []Target {
	i := slices.IndexFunc(rep.Modules, func(m ModuleCost) bool { return m.Name == "moderation-as" })
	if i < 0 {
		return nil
	}
	m := rep.Modules[i]
	return []Target{
		{Name: "(as)/(a) throughput, AssemblyScript plugin", Value: rep.ASThroughputRatio.Median, Unit: "x",
			Limit: ">= 1.3", Met: rep.ASThroughputRatio.Median >= targetASThroughputRatio,
			Detail: fmt.Sprintf("per round %.2f-%.2f", rep.ASThroughputRatio.Min, rep.ASThroughputRatio.Max)},
		{Name: "AssemblyScript plugin size", Value: float64(m.Size) / 1024, Unit: "KiB",
			Limit: "<= 30 KiB", Met: m.Size <= targetASSize, Detail: fmt.Sprintf("%d bytes", m.Size)},
		{Name: "AssemblyScript cold instance", Value: m.ColdInstanceUS / 1000, Unit: "ms",
			Limit: "<= 0.2 ms", Met: m.ColdInstanceUS <= float64(targetASColdInstance)/float64(time.Microsecond),
			Detail: fmt.Sprintf("a call on a new instance %.1f us, on a warm one %.1f us", m.ColdCallUS, m.WarmCallUS)},
	}
}

// printModules prints the module costs as a table.
func printModules(w interface{ Write([]byte) (int, error) }, ms []ModuleCost) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintln(w, "\nmodules, measured in this process through the host's sandbox (median of runs):")
	fmt.Fprintf(w, "  %-15s %10s %12s %12s %13s %12s %14s %22s\n", "plugin", "size", "compile", "warm call", "instructions", "cold call", "cold instance", "RSS per loaded plugin")
	for _, m := range ms {
		fmt.Fprintf(w, "  %-15s %8.1fKB %10.1fms %10.1fus %13d %10.1fus %12.1fus %17.0fKiB (%d)\n", m.Name, float64(m.Size)/1000,
			m.CompileMS, m.WarmCallUS, m.Instructions, m.ColdCallUS, m.ColdInstanceUS, m.RSSPerPluginKiB, m.LoadedPlugins)
	}
}
