package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// subcommand is one verb of a client command such as `imhook tenant create`.
type subcommand struct {
	summary string
	run     func(ctx context.Context, c *apiClient, args []string) int
}

// tenantCommands are the verbs of `imhook tenant`. docs/cli.md has an example
// of each.
var tenantCommands = map[string]subcommand{
	"create": {"create a tenant and print its token (shown once)", tenantCreate},
	"list":   {"list tenants (operator token)", tenantList},
	"get":    {"show a tenant: settings and plugins", tenantGet},
	"update": {"change a tenant's settings", tenantUpdate},
	"delete": {"delete a tenant, its plugins and their blobs (operator token)", tenantDelete},
	"token":  {"rotate a tenant's token and print the new one (shown once)", tenantToken},
	"stats":  {"show a tenant's live statistics", tenantStats},
}

// pluginCommands are the verbs of `imhook plugin`.
var pluginCommands = map[string]subcommand{
	"push":     {"upload a .wasm as a new version (validated by the server)", pluginPush},
	"list":     {"list plugins, or the versions of one plugin", pluginList},
	"activate": {"make a version the active one", pluginActivate},
	"rollback": {"make the previously active version active again", pluginRollback},
	"delete":   {"delete a version, or a whole plugin", pluginDelete},
	"order":    {"set the order in which plugins run", pluginOrder},
	"test":     {"run a callback through a version without activating it", pluginTest},
}

// tenantMain is `imhook tenant`, the client of the admin API's tenant routes.
func tenantMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "tenant", tenantCommands, args, stdin, stdout, stderr)
}

// pluginMain is `imhook plugin`, the client of the admin API's plugin routes.
func pluginMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return dispatchClient(ctx, "plugin", pluginCommands, args, stdin, stdout, stderr)
}

// dispatchClient runs the verb named by args[0].
func dispatchClient(ctx context.Context, name string, verbs map[string]subcommand, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		clientUsage(stderr, name, verbs)
		return exitUsage
	}
	if isHelp(args[0]) {
		clientUsage(stdout, name, verbs)
		return exitOK
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "imhook %s: unknown command %q\n\n", name, args[0])
		clientUsage(stderr, name, verbs)
		return exitUsage
	}
	c := &apiClient{stdin: stdin, stdout: stdout, stderr: stderr}
	return v.run(ctx, c, args[1:])
}

func clientUsage(w io.Writer, name string, verbs map[string]subcommand) {
	fmt.Fprintf(w, "Usage: imhook %s <command> [flags]\n\nCommands:\n", name)
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, verbs[n].summary)
	}
	fmt.Fprintf(w, "\nEvery command takes --admin-url (env IMHOOK_ADMIN_URL, default %s),\n", defaultAdminURL)
	fmt.Fprintf(w, "--token (env IMHOOK_TOKEN) and --json. Run 'imhook %s <command> --help' for the rest.\n", name)
	fmt.Fprintln(w, "Exit status: 0 success, 1 refused or failed by the server, 2 bad usage.")
}

// short abbreviates a version hash for tables.
func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// orDash returns s, or "-" when it is empty, for table cells.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// joinOrDash joins a list for a table cell.
func joinOrDash(s []string) string { return orDash(strings.Join(s, ",")) }
