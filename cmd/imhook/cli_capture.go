package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/capture"
)

func init() {
	commands["capture"] = command{"keep a tenant's recent callbacks to replay them: on, off, list, clear", captureMain}
	commands["replay"] = command{"run captured callbacks through a new build or a kept version and show which replies change", replayMain}
}

// captureCommands are the verbs of imhook capture.
var captureCommands = map[string]subcommand{
	"on":    {"keep the tenant's recent callbacks (bounded, redacted)", captureOn},
	"off":   {"stop keeping callbacks (those kept stay until clear)", captureOff},
	"list":  {"list the callbacks kept", captureList},
	"clear": {"drop the callbacks kept", captureClear},
}

func captureMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "capture", captureCommands, args, stdin, stdout, stderr)
}

func capturePath(tenant string) string { return tenantPath(tenant) + "/capture" }

func captureOn(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "capture on"
	var tenant string
	fs := pluginFlags(c, cmd, "capture on [--max-callbacks N] [--max-age 1h] [--redact content,ex]", &tenant)
	maxN := fs.Int("max-callbacks", 0, "keep the newest this many (default 100, at most 1000)")
	maxAge := fs.String("max-age", "", "drop callbacks older than this, e.g. 30m (default 1h, at most 24h)")
	redact := fs.StringSlice("redact", nil, "request fields to replace by [redacted] before keeping, as dotted JSON paths: content,ex,offlinePushInfo.title")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nThe server (each replica, in memory) keeps the tenant's recent callbacks its plugins ran\n"+
			"for, with the reply given and the versions that gave it, for imhook replay.\n\nExample:\n"+
			"  imhook capture on --max-callbacks 200 --redact content,ex\n")
	}
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	st := capture.Settings{Enabled: true, MaxCallbacks: *maxN, MaxAge: *maxAge, Redact: *redact}
	return c.putCapture(ctx, cmd, tenant, st)
}

func captureOff(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "capture off"
	var tenant string
	fs := pluginFlags(c, cmd, "capture off", &tenant)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nStops capturing; what was kept stays until imhook capture clear.\n\nExample:\n  imhook capture off\n")
	}
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	// Keep the other settings as they are.
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: capturePath(tenant)})
	if err != nil {
		return c.fail(cmd, err)
	}
	var cur admin.Capture
	if err := json.Unmarshal(raw, &cur); err != nil {
		return c.fail(cmd, fmt.Errorf("unexpected answer from the server: %w", err))
	}
	cur.Settings.Enabled = false
	return c.putCapture(ctx, cmd, tenant, cur.Settings)
}

func (c *apiClient) putCapture(ctx context.Context, cmd, tenant string, st capture.Settings) int {
	raw, _, err := c.do(ctx, apiRequest{method: "PUT", path: capturePath(tenant), body: jsonBody(st), contentType: "application/json"})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.Capture) {
		s := out.Settings
		if !s.Enabled {
			fmt.Fprintf(c.stdout, "capture off for tenant %s; %d callbacks kept (imhook capture clear drops them)\n", tenant, out.Stats.Kept)
			return
		}
		fmt.Fprintf(c.stdout, "capture on for tenant %s: the newest %d callbacks, at most %s old", tenant, s.MaxCallbacks, s.MaxAge)
		if len(s.Redact) > 0 {
			fmt.Fprintf(c.stdout, ", %s redacted", strings.Join(s.Redact, ", "))
		}
		fmt.Fprintln(c.stdout, "\n(kept in this server's memory; imhook capture list shows them, imhook replay runs them again)")
	})
}

func captureList(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "capture list"
	var tenant string
	fs := pluginFlags(c, cmd, "capture list [--command callbackX]", &tenant)
	command := fs.String("command", "", "only callbacks of this command")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nExample:\n  imhook capture list --json | jq '.callbacks[0].request'\n")
	}
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	path := capturePath(tenant)
	if *command != "" {
		path += "?command=" + url.QueryEscape(*command)
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: path})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.Capture) {
		state := "off"
		if out.Settings.Enabled {
			state = "on"
		}
		fmt.Fprintf(c.stdout, "capture %s; %d kept", state, out.Stats.Kept)
		if n := out.Stats.SkippedLarge + out.Stats.SkippedFull; n > 0 {
			fmt.Fprintf(c.stdout, ", %d skipped (too large: %d, server full: %d)", n, out.Stats.SkippedLarge, out.Stats.SkippedFull)
		}
		fmt.Fprintln(c.stdout)
		if len(out.Callbacks) == 0 {
			return
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tCOMMAND\tOUTCOME\tVERSIONS\tOPERATION")
		for _, cb := range out.Callbacks {
			var vs []string
			for _, v := range cb.Versions {
				vs = append(vs, v.Plugin+"@"+short(v.Version))
			}
			outcome := cb.Outcome
			if cb.Failure != "" {
				outcome += " (" + cb.Failure + ")"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", cb.ID, cb.Time.Local().Format("15:04:05"), cb.Command, outcome, joinOrDash(vs), orDash(cb.OperationID))
		}
		tw.Flush()
	})
}

func captureClear(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "capture clear"
	var tenant string
	fs := pluginFlags(c, cmd, "capture clear", &tenant)
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nExample:\n  imhook capture clear\n")
	}
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	if _, _, err := c.do(ctx, apiRequest{method: "DELETE", path: capturePath(tenant)}); err != nil {
		return c.fail(cmd, err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "dropped the callbacks kept for tenant %s\n", tenant)
	}
	return exitOK
}

func replayMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	const cmd = "replay"
	c := &apiClient{stdin: stdin, stdout: stdout, stderr: stderr}
	var tenant string
	fs := pluginFlags(c, cmd, "replay [--build [dir] | --wasm file.wasm | --version hash] [--plugin name] [--command callbackX] [--id N]", &tenant)
	build := fs.Bool("build", false, "build the plugin project here first (imhook build) and replay through that")
	wasmPath := fs.String("wasm", "", "replay through this module (not stored anywhere)")
	ver := fs.String("version", "", "replay through this kept version of the plugin (hash or prefix); default the active one")
	plugin := fs.String("plugin", "", "the plugin the replay stands for (needed when the tenant has several)")
	command := fs.String("command", "", "only callbacks of this command")
	id := fs.Uint64("id", 0, "only the captured callback with this id")
	all := fs.Bool("all", false, "show unchanged replies in full too")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(fs.Output(), "\nRuns the tenant's captured callbacks (imhook capture on) again, each as a dry run under\n"+
			"the tenant's limits, configuration and failure policy on the server, through a new module or a\n"+
			"kept version, and shows which replies would change, field by field.\n\nExample:\n"+
			"  imhook replay --build                 # the project here, as it is now\n"+
			"  imhook replay --wasm build/p.wasm\n  imhook replay --plugin p --version 4ce2a9ed59aa\n")
	}
	if code := c.parseFlags(fs, args, 0, 1); code >= 0 {
		return code
	}
	if n := boolCount(*build, *wasmPath != "", *ver != ""); n > 1 {
		fmt.Fprintf(stderr, "imhook %s: give one of --build, --wasm and --version\n", cmd)
		return exitUsage
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	q := url.Values{}
	var body []byte
	source := "the active version"
	switch {
	case *build:
		dir := "."
		if fs.NArg() == 1 {
			dir = fs.Arg(0)
		}
		proj, err := findProject(dir, *plugin)
		if err != nil {
			fmt.Fprintf(stderr, "imhook %s: %v\n", cmd, err)
			return exitUsage
		}
		m, err := buildProject(ctx, proj, stderr, true)
		if err != nil {
			fmt.Fprintf(stderr, "imhook %s: %v\n", cmd, err)
			return exitAPI
		}
		body, source = m.wasm, relPath(proj.output)
		if *plugin == "" {
			*plugin = proj.name
		}
	case *wasmPath != "":
		b, err := readInput(*wasmPath, stdin)
		if err != nil {
			fmt.Fprintf(stderr, "imhook %s: %v\n", cmd, err)
			return exitUsage
		}
		body, source = b, *wasmPath
	case *ver != "":
		q.Set("version", *ver)
		source = "version " + *ver
	}
	if *plugin != "" {
		q.Set("plugin", *plugin)
	}
	if *command != "" {
		q.Set("command", *command)
	}
	if *id != 0 {
		q.Set("id", strconv.FormatUint(*id, 10))
	}
	path := capturePath(tenant) + "/replay"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if !c.json {
		fmt.Fprintf(stderr, "replaying tenant %s's captured callbacks through %s on the server ...\n", tenant, source)
	}
	req := apiRequest{method: "POST", path: path}
	if body != nil {
		req.body, req.contentType = body, "application/wasm"
	}
	raw, _, err := c.do(ctx, req)
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.Replay) { printReplay(c.stdout, out, *all) })
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// printReplay prints a replay for people: one line per callback, and for
// each reply that changes, the fields that change.
func printReplay(w io.Writer, out admin.Replay, all bool) {
	fmt.Fprintf(w, "plugin %s version %s (%s): %d callbacks\n", out.Plugin, short(out.Version), out.Source, out.Total)
	for _, r := range out.Results {
		head := fmt.Sprintf("#%d %s %s", r.ID, r.Time.Local().Format("15:04:05"), r.Command)
		if r.OperationID != "" {
			head += " (operation " + r.OperationID + ")"
		}
		switch {
		case r.Skipped != "":
			fmt.Fprintf(w, "  %s: skipped: %s\n", head, r.Skipped)
			continue
		case !r.Changed:
			fmt.Fprintf(w, "  %s: same reply\n", head)
			if all {
				fmt.Fprintf(w, "      %s\n", r.Captured)
			}
		default:
			var was []string
			for _, v := range r.Versions {
				was = append(was, v.Plugin+"@"+short(v.Version))
			}
			fmt.Fprintf(w, "  %s: CHANGED (was from %s)\n", head, joinOrDash(was))
			for _, d := range diffJSON(r.Captured, r.Replay.Reply) {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
		if r.Replay != nil && r.Replay.Error != nil {
			fmt.Fprintf(w, "      error: %s: %s\n", r.Replay.Error.Kind, r.Replay.Error.Message)
		}
		if r.Note != "" {
			fmt.Fprintf(w, "      note: %s\n", r.Note)
		}
	}
	fmt.Fprintf(w, "%d of %d replies would change\n", out.Changed, out.Total)
}

// diffJSON lists how JSON object b differs from a, key by key
// ("errCode: 0 -> 20001"); values that are not objects are shown whole.
func diffJSON(a, b []byte) []string {
	var x, y map[string]json.RawMessage
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return []string{"- " + string(a), "+ " + string(b)}
	}
	keys := map[string]bool{}
	for k := range x {
		keys[k] = true
	}
	for k := range y {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	var out []string
	show := func(v json.RawMessage) string {
		if v == nil {
			return "(absent)"
		}
		var buf bytes.Buffer
		if json.Compact(&buf, v) != nil {
			return string(v)
		}
		return buf.String()
	}
	for _, k := range sorted {
		if sa, sb := show(x[k]), show(y[k]); sa != sb {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, sa, sb))
		}
	}
	return out
}
