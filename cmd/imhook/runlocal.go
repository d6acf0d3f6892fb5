package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/outcall"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

// Exit codes of `imhook run`.
const (
	runOK     = 0 // the plugin replied (or gave no reply: the neutral one)
	runFailed = 1 // the plugin failed to load or its call failed
	runUsage  = 2 // bad flags, unreadable files, or a callback that does not parse
)

const runUsageLine = "run <plugin.wasm> --command <callbackCommand> [flags] < callback.json"

// runMain is `imhook run`: it loads a plugin into a fresh sandbox under the
// production default limits (flags override them), runs one callback through
// it and prints the reply, the logs, the time, the memory and the instructions used. Nothing is
// stored; no server is involved.
func runMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	command := fs.String("command", "", "the OpenIM callback command of the body (required)")
	file := fs.String("file", "-", "callback JSON body; - reads stdin")
	config := fs.StringArray("config", nil, "configuration value key=value the plugin can read (repeatable)")
	grants := fs.StringSlice("grants", nil, "capabilities to grant: "+strings.Join(limits.GrantNames(), ", "))
	failClosed := fs.Bool("fail-closed", false, "show the fail-closed reply when the call fails (default fail-open)")
	errCode := fs.Int32("err-code", 0, "errCode of the fail-closed reply")
	errMsg := fs.String("err-msg", "", "errMsg of the fail-closed reply")
	jsonOut := fs.Bool("json", false, "print the outcome as JSON")
	cacheDir := fs.String("cache-dir", "", "keep compiled code in this private directory across runs (default: memory only)")
	egressAllow := fs.StringSlice("egress-allow", nil, "destinations the plugin's out-calls may reach, scheme://host[:port] patterns (needs --grants http); out-calls are really sent")
	allowNets := fs.StringSlice("allow-network", nil, "CIDR prefixes out-calls may connect to although private or loopback, like the server's egress.allow_networks (e.g. 127.0.0.0/8 for a local service)")
	secretEnv := fs.StringArray("secret-env", nil, "tenant secret NAME=ENVVAR: the secret NAME takes the value of environment variable ENVVAR (repeatable; never on the command line)")
	noCPULimit := fs.Bool("no-cpu-limit", false, "run without any CPU limit, instruction budget included (to measure a plugin; a loop then never ends)")
	kvFile := fs.String("kv-file", "", "give the plugin this bbolt file as its state, kept across runs (grants kv)")
	kvMemory := fs.Bool("kv-memory", false, "give the plugin an empty state, dropped after the run (grants kv)")
	lim := limits.Default()
	limitFlags(fs, &lim, "")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: imhook %s\n\n", runUsageLine)
		fmt.Fprintln(w, "Runs the plugin once, locally, under the server's default limits, and prints")
		fmt.Fprintln(w, "the reply, the logs, the time, the memory and the instructions used.")
		fmt.Fprintf(w, "Exit status: 0 reply, 1 the plugin failed, 2 bad usage or input.\n\nFlags:\n%s", fs.FlagUsages())
		fmt.Fprintf(w, "\nExample:\n  imhook callback example callbackBeforeSendSingleMsgCommand | \\\n    imhook run build/guard.wasm --command callbackBeforeSendSingleMsgCommand --config banned_words=spam\n")
	}
	if err := parseArgs(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return runOK
		}
		fmt.Fprintf(stderr, "imhook run: %v\nRun 'imhook run --help' for usage.\n", err)
		return runUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "imhook run: "+format+"\n", a...)
		return runUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return runUsage
	}
	if *command == "" {
		return usageErr("--command is required, e.g. --command callbackBeforeSendSingleMsgCommand")
	}
	if (fs.Changed("err-code") || fs.Changed("err-msg")) && !*failClosed {
		return usageErr("--err-code and --err-msg go with --fail-closed")
	}
	for _, e := range lim.Check() {
		return usageErr("--%s %s: %s", limitFlag(e.Field), e.Field.Format(e.Value), e.Want())
	}
	cfg := plugins.SandboxOptions{ID: "local", Limits: lim, Config: map[string]string{}}
	for _, kv := range *config {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--config %q: want key=value", kv)
		}
		cfg.Config[k] = v
	}
	g, err := limits.ParseGrants(*grants)
	if err != nil {
		return usageErr("--grants: %v", err)
	}
	cfg.Grants = g
	if len(*egressAllow) > 0 || len(*allowNets) > 0 {
		if _, err := egress.ParseAllow("--egress-allow", *egressAllow); err != nil {
			return usageErr("%v", err)
		}
		nets, err := egress.ParseNetworks("--allow-network", *allowNets)
		if err != nil {
			return usageErr("%v", err)
		}
		pool := outcall.New(outcall.Options{Policy: egress.Policy{AllowNetworks: nets}})
		defer pool.Close()
		cfg.EgressAllow = *egressAllow
		cfg.HTTP = pool.Client(cfg.ID, lim.MaxOutIdleConns)
	}
	for _, kv := range *secretEnv {
		name, env, ok := strings.Cut(kv, "=")
		if !ok || name == "" || env == "" {
			return usageErr("--secret-env %q: want NAME=ENVVAR", kv)
		}
		v, ok := os.LookupEnv(env)
		if !ok {
			return usageErr("--secret-env %s: environment variable %s is not set", name, env)
		}
		if cfg.Secrets == nil {
			cfg.Secrets = map[string]string{}
		}
		cfg.Secrets[name] = v
	}
	if *kvFile != "" && *kvMemory {
		return usageErr("--kv-file and --kv-memory: give one of them")
	}
	if *kvFile != "" || *kvMemory {
		kv, closeKV, err := runState(*kvFile, *kvMemory, lim.WithDefaults())
		if err != nil {
			return usageErr("--kv-file: %v", err)
		}
		defer closeKV()
		cfg.KV, cfg.Grants.KV = kv, true
	}
	if *noCPULimit {
		cfg.CPULimit = plugins.CPULimitNone
	}
	wasmPath := fs.Arg(0)
	wasm, err := readInput(wasmPath, stdin)
	if err != nil {
		return usageErr("%v", err)
	}
	if wasmPath == "-" && *file == "-" {
		return usageErr("the plugin and the callback cannot both come from stdin; use --file")
	}
	body, err := readInput(*file, stdin)
	if err != nil {
		return usageErr("%v", err)
	}
	req, err := openim.ParseRequest(*command, body, openim.Limits{MaxBodyBytes: lim.MaxInputBytes})
	if err != nil {
		return usageErr("bad callback: %v", err)
	}

	eng, err := plugins.NewEngine(ctx, plugins.EngineOptions{Commands: openim.CommandName, CacheDir: *cacheDir, Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "imhook run: %v\n", err)
		return runFailed
	}
	defer eng.Close(context.WithoutCancel(ctx))
	tenant, err := eng.NewSandbox(cfg)
	if err != nil {
		return usageErr("%v", err)
	}
	start := time.Now()
	p, err := tenant.Load(ctx, pluginName(wasmPath), wasm)
	if err != nil {
		fmt.Fprintf(stderr, "imhook run: the plugin does not load: %v\n", err)
		printStderr(stderr, loadStderr(err))
		return runFailed
	}
	loaded := time.Since(start)
	if c := req.Command().String(); !p.Handles(c) {
		fmt.Fprintf(stderr, "imhook run: the plugin does not handle %s; it declares %s\n", c, strings.Join(p.Commands(), ", "))
		return runFailed
	}
	policy := registry.Policy{Closed: *failClosed, ErrCode: *errCode, ErrMsg: *errMsg}
	out := admin.RunCallback(ctx, p, req, body, policy)
	out.LoadUS = loaded.Microseconds()
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		printDryRun(stdout, out)
	}
	if out.Error != nil {
		return runFailed
	}
	return runOK
}

// notName matches what a plugin name may not contain.
var notName = regexp.MustCompile(`[^a-z0-9_-]+`)

// pluginName derives a plugin name for logs and errors from the file name.
func pluginName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name := strings.Trim(notName.ReplaceAllString(strings.ToLower(base), "-"), "-_")
	if name == "" {
		return "plugin"
	}
	return name
}

// loadStderr returns what the guest wrote to stderr while it was loaded.
func loadStderr(err error) string {
	var le *plugins.LoadError
	if errors.As(err, &le) {
		return le.Stderr
	}
	return ""
}

// printStderr prints a guest's stderr, indented, when there is any.
func printStderr(w io.Writer, s string) {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return
	}
	fmt.Fprintln(w, "guest stderr:")
	for _, line := range strings.Split(s, "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// decodeDryRun decodes a DryRun from the admin API.
func decodeDryRun(raw []byte) (admin.DryRun, error) {
	var out admin.DryRun
	err := json.Unmarshal(raw, &out)
	return out, err
}

// printDryRun prints the outcome of a dry run (`imhook run`, `imhook plugin
// test`) for people.
func printDryRun(w io.Writer, out admin.DryRun) {
	if out.Plugin != "" || out.Version != "" {
		fmt.Fprintf(w, "plugin:   %s %s\n", out.Plugin, short(out.Version))
	}
	fmt.Fprintf(w, "command:  %s\n", out.Command)
	switch {
	case out.Error != nil:
		fmt.Fprintf(w, "error:    %s: %s\n", out.Error.Kind, out.Error.Message)
		if out.ReplyText != "" {
			fmt.Fprintf(w, "guest reply (unusable): %s\n", out.ReplyText)
		}
		fmt.Fprintf(w, "reply:    %s\n", out.Reply)
		fmt.Fprintln(w, "          (the failure policy's reply: what imhook would answer)")
	case out.NoReply:
		fmt.Fprintf(w, "reply:    %s\n", out.Reply)
		fmt.Fprintln(w, "          (the plugin gave no reply: this is the command's neutral reply)")
	default:
		fmt.Fprintf(w, "reply:    %s\n", out.Reply)
	}
	if out.Stops {
		fmt.Fprintln(w, "effect:   stop: OpenIM aborts the operation")
	} else {
		fmt.Fprintln(w, "effect:   continue")
	}
	fmt.Fprintf(w, "time:     call %s, load %s\n", micros(out.DurationUS), micros(out.LoadUS))
	fmt.Fprintf(w, "memory:   %d pages (%s)\n", out.MemoryPages, formatBytes(int64(out.MemoryBytes)))
	switch out.CPULimit {
	case string(plugins.CPULimitInstructions):
		fmt.Fprintf(w, "cpu:      %d instructions of %d\n", out.Instructions, out.MaxInstructions)
		if out.OutCalls > 0 {
			fmt.Fprintf(w, "out-calls: %d, %s waiting\n", out.OutCalls, time.Duration(out.OutCallUS)*time.Microsecond)
		}
	case "":
	default:
		fmt.Fprintf(w, "cpu:      limit %s (%s)\n", out.CPULimit, out.CPULimitReason)
	}
	if len(out.Logs) == 0 {
		fmt.Fprintln(w, "logs:     none")
	} else {
		fmt.Fprintf(w, "logs:     %d\n", len(out.Logs))
		for _, l := range out.Logs {
			fmt.Fprintf(w, "  %-5s %s\n", l.Level, l.Message)
		}
	}
	if out.Error != nil {
		printStderr(w, out.Error.Stderr)
	}
}

// micros formats a duration given in microseconds.
func micros(us int64) string {
	return (time.Duration(us) * time.Microsecond).String()
}
