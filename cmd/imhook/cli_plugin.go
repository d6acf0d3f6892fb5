package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

// pluginFlags returns the flag set of a plugin verb with --tenant added.
func pluginFlags(c *apiClient, name, usage string, tenant *string) *pflag.FlagSet {
	fs := newClientFlags(c, name, usage)
	fs.StringVarP(tenant, "tenant", "t", os.Getenv("IMHOOK_TENANT"),
		"tenant the plugin belongs to (env IMHOOK_TENANT); default: the tenant of a tenant token")
	return fs
}

// resolveTenant returns the tenant to act on: --tenant, or the tenant a
// tenant token belongs to (tokens are "<tenant>.<secret>").
func resolveTenant(c *apiClient, cmd, tenant string) (string, bool) {
	if tenant != "" {
		return tenant, true
	}
	if id, _, ok := strings.Cut(c.token, admin.TokenSeparator); ok && registry.ValidID("tenant", id) == nil {
		return id, true
	}
	fmt.Fprintf(c.stderr, "imhook %s: which tenant? pass --tenant (or set IMHOOK_TENANT); only tenant tokens imply one\n", cmd)
	return "", false
}

func pluginPath(tenant, name string) string { return tenantPath(tenant) + "/plugins/" + name }

func pluginPush(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin push"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin push <name> <file.wasm> [--activate]", &tenant)
	activate := fs.Bool("activate", false, "make the version active once it is stored")
	ifMatch := fs.String("if-match", "", "upload only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	wasm, err := readInput(fs.Arg(1), c.stdin)
	if err != nil {
		fmt.Fprintf(c.stderr, "imhook %s: %v\n", cmd, err)
		return exitUsage
	}
	path := pluginPath(tenant, fs.Arg(0)) + "/versions"
	if *activate {
		path += "?activate=true"
	}
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: path, body: wasm, contentType: "application/wasm", ifMatch: *ifMatch})
	if err != nil {
		return c.fail(cmd, err)
	}
	code := finish(c, cmd, raw, c.printUpload)
	var up admin.Upload
	if code != exitOK || json.Unmarshal(raw, &up) != nil || !up.Active {
		return code
	}
	return c.servingStatus(cmd, up.Version.Hash, up.Serving)
}

// printUpload prints the outcome of an upload (plugin push, imhook push).
func (c *apiClient) printUpload(up admin.Upload) {
	v := up.Version
	what := "uploaded"
	if !up.Created {
		what = "already had"
	}
	state := "inactive; activate it with: imhook plugin activate " + up.Plugin + " " + short(v.Hash)
	if up.Active {
		state = "active"
	}
	fmt.Fprintf(c.stdout, "%s %s version %s (%s, abi %d, %s)\n", what, up.Plugin, short(v.Hash), formatBytes(v.Size), v.ABIVersion, state)
	fmt.Fprintf(c.stdout, "commands: %s\n", strings.Join(v.Commands, ", "))
	// Which CPU limit the sandbox enforces for this version, and why when
	// it is not the instruction budget.
	if up.CPULimitReason != "" {
		fmt.Fprintf(c.stdout, "cpu limit: %s (%s)\n", up.CPULimit, up.CPULimitReason)
	} else {
		fmt.Fprintf(c.stdout, "cpu limit: %s (_initialize used %d instructions)\n", up.CPULimit, up.InitInstructions)
	}
	input := "JSON"
	if up.WireInput {
		input = "wire format (the request as imhook parsed it)"
	}
	fmt.Fprintf(c.stdout, "input:     %s\n", input)
}

func pluginList(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin list"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin list [name]", &tenant)
	if code := c.parseFlags(fs, args, 0, 1); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	if fs.NArg() == 0 {
		raw, _, err := c.do(ctx, apiRequest{method: "GET", path: tenantPath(tenant) + "/plugins"})
		if err != nil {
			return c.fail(cmd, err)
		}
		return finish(c, cmd, raw, func(out admin.PluginList) {
			if len(out.Plugins) == 0 {
				fmt.Fprintf(c.stdout, "tenant %s has no plugins; upload one with: imhook plugin push <name> <file.wasm>\n", tenant)
				return
			}
			printPlugins(c.stdout, out.Plugins)
		})
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: pluginPath(tenant, fs.Arg(0))})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(p registry.Plugin) {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\tVERSION\tSIZE\tUPLOADED\tABI\tCOMMANDS")
		for i := len(p.Versions) - 1; i >= 0; i-- { // newest first
			v := p.Versions[i]
			mark := ""
			if v.Hash == p.Active {
				mark = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", mark, short(v.Hash), formatBytes(v.Size),
				v.UploadedAt.Format(time.RFC3339), v.ABIVersion, strings.Join(v.Commands, ","))
		}
		tw.Flush()
		if p.Active == "" {
			fmt.Fprintln(c.stdout, "no active version")
		}
	})
}

// printPlugins prints plugins in run order as a table.
func printPlugins(w io.Writer, ps []registry.Plugin) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tACTIVE\tVERSIONS\tCOMMANDS")
	for _, p := range ps {
		var cmds []string
		if v, ok := p.ActiveVersion(); ok {
			cmds = v.Commands
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", p.Name, orDash(short(p.Active)), len(p.Versions), joinOrDash(cmds))
	}
	tw.Flush()
}

func pluginActivate(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin activate"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin activate <name> <version>", &tenant)
	ifMatch := fs.String("if-match", "", "activate only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 2, 2); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	path := pluginPath(tenant, fs.Arg(0)) + "/versions/" + fs.Arg(1) + "/activate"
	return c.pluginChange(ctx, cmd, apiRequest{method: "POST", path: path, ifMatch: *ifMatch}, "active")
}

func pluginRollback(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin rollback"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin rollback <name>", &tenant)
	ifMatch := fs.String("if-match", "", "roll back only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	path := pluginPath(tenant, fs.Arg(0)) + "/rollback"
	return c.pluginChange(ctx, cmd, apiRequest{method: "POST", path: path, ifMatch: *ifMatch}, "rolled back; active")
}

// pluginChange sends an activation, prints the plugin's active version and
// says when the webhook path does not serve it.
func (c *apiClient) pluginChange(ctx context.Context, cmd string, req apiRequest, what string) int {
	raw, _, err := c.do(ctx, req)
	if err != nil {
		return c.fail(cmd, err)
	}
	code := finish(c, cmd, raw, func(a admin.Activation) {
		fmt.Fprintf(c.stdout, "%s %s: version %s\n", a.Name, what, short(a.Active))
	})
	var a admin.Activation
	if code != exitOK || json.Unmarshal(raw, &a) != nil {
		return code
	}
	return c.servingStatus(cmd, a.Active, a.Serving)
}

// servingStatus tells, on stderr, when the webhook path does not serve the
// version active, which an activation just made active. A version that
// failed to load fails the command.
func (c *apiClient) servingStatus(cmd, active string, s *admin.Serving) int {
	switch {
	case s == nil || s.Version == active:
		return exitOK
	case s.LoadError != "":
		serves := "no version serves"
		if s.Version != "" {
			serves = "version " + short(s.Version) + " keeps serving"
		}
		fmt.Fprintf(c.stderr, "imhook %s: version %s is active but failed to load, %s: %s\n", cmd, short(active), serves, s.LoadError)
		return exitAPI
	case s.Loading:
		serves := "nothing serves yet"
		if s.Version != "" {
			serves = "version " + short(s.Version) + " still serves"
		}
		fmt.Fprintf(c.stderr, "imhook %s: version %s is active, but %s while it loads; imhook tenant stats shows when it serves\n", cmd, short(active), serves)
	}
	return exitOK
}

func pluginDelete(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin delete"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin delete <name> <version> | plugin delete <name> --all", &tenant)
	all := fs.Bool("all", false, "delete the whole plugin, active version included")
	ifMatch := fs.String("if-match", "", "delete only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 1, 2); code >= 0 {
		return code
	}
	if *all == (fs.NArg() == 2) {
		fmt.Fprintf(c.stderr, "imhook %s: give either a version or --all\n", cmd)
		return exitUsage
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	path, what := pluginPath(tenant, fs.Arg(0)), "plugin "+fs.Arg(0)
	if !*all {
		path += "/versions/" + fs.Arg(1)
		what = fs.Arg(0) + " version " + fs.Arg(1)
	}
	if _, _, err := c.do(ctx, apiRequest{method: "DELETE", path: path, ifMatch: *ifMatch}); err != nil {
		return c.fail(cmd, err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "deleted %s\n", what)
	}
	return exitOK
}

func pluginOrder(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin order"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin order <name> <name>...", &tenant)
	ifMatch := fs.String("if-match", "", "reorder only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 1, -1); code >= 0 {
		return code
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	body := jsonBody(admin.Order{Order: fs.Args()})
	raw, _, err := c.do(ctx, apiRequest{method: "PUT", path: tenantPath(tenant) + "/plugins/order", body: body, contentType: "application/json", ifMatch: *ifMatch})
	if err != nil {
		return c.fail(cmd, err)
	}
	return finish(c, cmd, raw, func(out admin.PluginList) {
		names := make([]string, len(out.Plugins))
		for i, p := range out.Plugins {
			names[i] = p.Name
		}
		fmt.Fprintf(c.stdout, "run order: %s\n", strings.Join(names, ", "))
	})
}

func pluginTest(ctx context.Context, c *apiClient, args []string) int {
	const cmd = "plugin test"
	var tenant string
	fs := pluginFlags(c, cmd, "plugin test <name> [version] --command <callbackCommand> [--file callback.json] (default: stdin)", &tenant)
	command := fs.String("command", "", "the OpenIM callback command of the body (required)")
	file := fs.String("file", "-", "callback JSON body; - reads stdin")
	if code := c.parseFlags(fs, args, 1, 2); code >= 0 {
		return code
	}
	if *command == "" {
		fmt.Fprintf(c.stderr, "imhook %s: --command is required, e.g. --command callbackBeforeSendSingleMsgCommand\n", cmd)
		return exitUsage
	}
	tenant, ok := resolveTenant(c, cmd, tenant)
	if !ok {
		return exitUsage
	}
	version := admin.ActiveAlias
	if fs.NArg() == 2 {
		version = fs.Arg(1)
	}
	body, err := readInput(*file, c.stdin)
	if err != nil {
		fmt.Fprintf(c.stderr, "imhook %s: %v\n", cmd, err)
		return exitUsage
	}
	path := pluginPath(tenant, fs.Arg(0)) + "/versions/" + version + "/test?command=" + url.QueryEscape(*command)
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: path, body: body, contentType: "application/json"})
	if err != nil {
		return c.fail(cmd, err)
	}
	code := exitOK
	finish(c, cmd, raw, func(out admin.DryRun) { printDryRun(c.stdout, out) })
	if out, err := decodeDryRun(raw); err == nil && out.Error != nil {
		code = exitAPI
	}
	return code
}
