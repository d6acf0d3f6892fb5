package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

func tenantPath(id string) string { return "/v1/tenants/" + id }

func tenantCreate(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant create", "tenant create <id> [--settings file.json]")
	settingsFile := fs.String("settings", "", "JSON file with the tenant's settings (- for stdin); default: all defaults")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	in := admin.CreateTenant{ID: fs.Arg(0)}
	if *settingsFile != "" {
		if err := readJSONFile(*settingsFile, c.stdin, &in.Settings); err != nil {
			fmt.Fprintf(c.stderr, "imhook tenant create: --settings: %v\n", err)
			return exitUsage
		}
	}
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: "/v1/tenants", body: jsonBody(in), contentType: "application/json"})
	if err != nil {
		return c.fail("tenant create", err)
	}
	return finish(c, "tenant create", raw, func(out admin.TenantToken) {
		fmt.Fprintf(c.stdout, "created tenant %s (revision %d)\n", out.Tenant.ID, out.Tenant.Revision)
		printToken(c.stdout, out.Token)
	})
}

// printToken prints a new tenant token with the warning that goes with it.
func printToken(w io.Writer, token string) {
	fmt.Fprintf(w, "token: %s\n", token)
	fmt.Fprintln(w, "Keep it now: the server stores only its hash and cannot show it again.")
}

func tenantList(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant list", "tenant list")
	if code := c.parseFlags(fs, args, 0, 0); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: "/v1/tenants"})
	if err != nil {
		return c.fail("tenant list", err)
	}
	return finish(c, "tenant list", raw, func(out admin.TenantList) {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPLUGINS\tACTIVE\tREVISION\tUPDATED")
		for _, t := range out.Tenants {
			active := 0
			for _, p := range t.Plugins {
				if p.Active != "" {
					active++
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", t.ID, len(t.Plugins), active, t.Revision, t.UpdatedAt.Format(time.RFC3339))
		}
		tw.Flush()
	})
}

func tenantGet(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant get", "tenant get <id>")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: tenantPath(fs.Arg(0))})
	if err != nil {
		return c.fail("tenant get", err)
	}
	return finish(c, "tenant get", raw, func(t admin.Tenant) { printTenant(c.stdout, t) })
}

// printTenant prints a tenant for people.
func printTenant(w io.Writer, t admin.Tenant) {
	fmt.Fprintf(w, "tenant:    %s\nrevision:  %d\ncreated:   %s\nupdated:   %s\n",
		t.ID, t.Revision, t.CreatedAt.Format(time.RFC3339), t.UpdatedAt.Format(time.RFC3339))
	s, _ := json.MarshalIndent(t.Settings, "  ", "  ")
	fmt.Fprintf(w, "settings:\n  %s\n", s)
	if len(t.Plugins) == 0 {
		fmt.Fprintln(w, "plugins:   none")
		return
	}
	fmt.Fprintln(w, "plugins (in run order):")
	printPlugins(w, t.Plugins)
}

func tenantUpdate(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant update", "tenant update <id> [--settings file.json | flags that change single settings]")
	settingsFile := fs.String("settings", "", "replace all settings with this JSON file (- for stdin)")
	patch := fs.String("patch", "", "JSON merge patch (RFC 7396) of the settings, e.g. '{\"config\":{\"k\":null}}'")
	config := fs.StringArray("config", nil, "set a configuration value key=value (repeatable)")
	unset := fs.StringArray("unset-config", nil, "remove a configuration value (repeatable)")
	commands := fs.StringSlice("commands", nil, "enabled commands, comma-separated; empty enables all the plugins declare")
	grants := fs.StringSlice("grants", nil, "granted capabilities: "+strings.Join(limits.GrantNames(), ", ")+" (operator token)")
	egressAllow := fs.StringSlice("egress-allow", nil, "destinations out-calls may reach, scheme://host[:port] patterns, comma-separated (grant http; operator token)")
	failClosed := fs.Bool("fail-closed", false, "stop the operation when a plugin fails")
	failOpen := fs.Bool("fail-open", false, "let the operation continue when a plugin fails")
	errCode := fs.Int32("err-code", 0, "errCode sent to OpenIM when failing closed")
	errMsg := fs.String("err-msg", "", "errMsg sent to OpenIM when failing closed")
	keep := fs.Int("keep-versions", 0, "versions kept per plugin for rollback (operator token)")
	var lim limits.Limits // only the flags given are sent; 0 restores the server's default
	limitFlags(fs, &lim, " (operator token; 0 restores the server default)")
	ifMatch := fs.String("if-match", "", "apply only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	id := fs.Arg(0)
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(c.stderr, "imhook tenant update: "+format+"\n", a...)
		return exitUsage
	}
	if *settingsFile != "" {
		if countChanged(fs, "patch", "config", "unset-config", "commands", "grants", "egress-allow", "fail-closed", "fail-open",
			"err-code", "err-msg", "keep-versions") > 0 || changedLimits(fs) > 0 {
			return usageErr("--settings replaces everything; do not combine it with other setting flags")
		}
		var s registry.Settings
		if err := readJSONFile(*settingsFile, c.stdin, &s); err != nil {
			return usageErr("--settings: %v", err)
		}
		raw, _, err := c.do(ctx, apiRequest{method: "PUT", path: tenantPath(id) + "/settings", body: jsonBody(s), contentType: "application/json", ifMatch: *ifMatch})
		if err != nil {
			return c.fail("tenant update", err)
		}
		return finish(c, "tenant update", raw, func(s registry.Settings) {
			fmt.Fprintf(c.stdout, "settings of tenant %s replaced\n", id)
		})
	}

	settings := map[string]any{}
	if *patch != "" {
		if err := json.Unmarshal([]byte(*patch), &settings); err != nil {
			return usageErr("--patch: want a JSON object: %v", err)
		}
	}
	sub := func(key string) map[string]any {
		m, ok := settings[key].(map[string]any)
		if !ok {
			m = map[string]any{}
			settings[key] = m
		}
		return m
	}
	for _, kv := range *config {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageErr("--config %q: want key=value", kv)
		}
		sub("config")[k] = v
	}
	for _, k := range *unset {
		sub("config")[k] = nil
	}
	if fs.Changed("commands") {
		settings["commands"] = nonNil(*commands)
	}
	if fs.Changed("grants") {
		settings["grants"] = nonNil(*grants)
	}
	if fs.Changed("egress-allow") {
		settings["egress_allow"] = nonNil(*egressAllow)
	}
	switch {
	case *failClosed && *failOpen:
		return usageErr("--fail-closed and --fail-open contradict each other")
	case *failOpen:
		if fs.Changed("err-code") || fs.Changed("err-msg") {
			return usageErr("--err-code and --err-msg go with --fail-closed")
		}
		settings["failure"] = map[string]any{"closed": false, "err_code": nil, "err_msg": nil}
	case *failClosed:
		f := map[string]any{"closed": true}
		if fs.Changed("err-code") {
			f["err_code"] = *errCode
		}
		if fs.Changed("err-msg") {
			f["err_msg"] = *errMsg
		}
		settings["failure"] = f
	case fs.Changed("err-code") || fs.Changed("err-msg"):
		return usageErr("--err-code and --err-msg go with --fail-closed")
	}
	if fs.Changed("keep-versions") {
		settings["keep_versions"] = *keep
	}
	for _, f := range limits.Fields {
		if fs.Changed(limitFlag(f)) {
			sub("limits")[f.Key] = f.Get(lim)
		}
	}
	if len(settings) == 0 {
		return usageErr("nothing to change; see --help")
	}
	body := jsonBody(map[string]any{"settings": settings})
	raw, _, err := c.do(ctx, apiRequest{method: "PATCH", path: tenantPath(id), body: body, contentType: "application/merge-patch+json", ifMatch: *ifMatch})
	if err != nil {
		return c.fail("tenant update", err)
	}
	return finish(c, "tenant update", raw, func(t admin.Tenant) {
		fmt.Fprintf(c.stdout, "tenant %s updated (revision %d)\n", t.ID, t.Revision)
	})
}

// countChanged counts the named flags that were set.
func countChanged(fs interface{ Changed(string) bool }, names ...string) int {
	n := 0
	for _, name := range names {
		if fs.Changed(name) {
			n++
		}
	}
	return n
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func tenantDelete(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant delete", "tenant delete <id>")
	ifMatch := fs.String("if-match", "", "delete only if the tenant is still at this revision")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	if _, _, err := c.do(ctx, apiRequest{method: "DELETE", path: tenantPath(fs.Arg(0)), ifMatch: *ifMatch}); err != nil {
		return c.fail("tenant delete", err)
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "deleted tenant %s\n", fs.Arg(0))
	}
	return exitOK
}

func tenantToken(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant token", "tenant token <id>")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "POST", path: tenantPath(fs.Arg(0)) + "/token"})
	if err != nil {
		return c.fail("tenant token", err)
	}
	return finish(c, "tenant token", raw, func(out admin.TenantToken) {
		fmt.Fprintf(c.stdout, "new token of tenant %s; the old one no longer works\n", out.Tenant.ID)
		printToken(c.stdout, out.Token)
	})
}

func tenantStats(ctx context.Context, c *apiClient, args []string) int {
	fs := newClientFlags(c, "tenant stats", "tenant stats <id>")
	if code := c.parseFlags(fs, args, 1, 1); code >= 0 {
		return code
	}
	raw, _, err := c.do(ctx, apiRequest{method: "GET", path: tenantPath(fs.Arg(0)) + "/stats"})
	if err != nil {
		return c.fail("tenant stats", err)
	}
	return finish(c, "tenant stats", raw, func(out struct {
		Tenant string          `json:"tenant"`
		Stats  json.RawMessage `json:"stats"`
	}) {
		if len(out.Stats) == 0 || string(out.Stats) == "null" {
			fmt.Fprintf(c.stdout, "tenant %s: no live statistics (no plugin loaded yet)\n", out.Tenant)
			return
		}
		var v any
		_ = json.Unmarshal(out.Stats, &v)
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintf(c.stdout, "tenant %s:\n%s\n", out.Tenant, b)
	})
}

// readJSONFile decodes a JSON file (- for stdin) into v, refusing unknown
// fields so that a typo in a settings file is caught here.
func readJSONFile(name string, stdin io.Reader, v any) error {
	b, err := readInput(name, stdin)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// formatBytes prints a size for people.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
