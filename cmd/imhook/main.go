// Command imhook is the OpenIM webhook business server that runs each tenant's
// WebAssembly plugins, and the command-line client of its admin API.
//
// Usage:
//
//	imhook serve [flags]                                   run the server
//	imhook tenant create|list|get|update|delete|token|stats manage tenants
//	imhook plugin push|list|activate|rollback|delete|order|test
//	imhook new|build|dev|push                              a plugin project: scaffold, build, watch, upload
//	imhook logs [-f]|capture|replay|callback               a tenant's live log, captures and replays
//	imhook run plugin.wasm --command X < callback.json     run a plugin locally
//	imhook bench [--compare | --plugin x.wasm | --tenants]  measure performance
//	imhook version
//
// Run "imhook <command> --help" for the flags of each command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/spf13/pflag"
)

// command is one subcommand. It returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commands lists every subcommand. Each lives in its own file.
var commands = map[string]command{
	"serve":   {"run the webhook server and the admin API", serveMain},
	"tenant":  {"manage tenants through the admin API", tenantMain},
	"plugin":  {"upload, list, activate, roll back and test plugins through the admin API", pluginMain},
	"queue":   {"after-callback queue: stats, and dead letters (list, show, retry, purge)", queueMain},
	"store":   {"the shared Redis store of replicas: health, what each serves, ending the lost-data state", storeMain},
	"secret":  {"set, list and delete a tenant's secrets through the admin API", secretMain},
	"kv":      {"list, read, write and delete a tenant's state keys through the admin API", kvMain},
	"run":     {"run a plugin locally on one callback under the production limits", runMain},
	"version": {"print the version", versionMain},
	"bench":   {"measure imhook against a native server, load-test a plugin, or measure many tenants' memory", benchMain},
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand; it is main without the process, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if isHelp(args[0]) {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "imhook: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdin, stdout, stderr)
}

// isHelp reports whether arg asks for help in place of a command.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }

// parseArgs parses args into fs. Help asked for with --help or -h goes to
// stdout (pflag prints it through fs.Usage, which must write to fs.Output);
// usage shown later, after a mistake, goes to stderr.
func parseArgs(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stdout)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "imhook: OpenIM webhook server running tenant WebAssembly plugins")
	fmt.Fprintln(w, "\nUsage: imhook <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'imhook <command> --help' for its flags.")
}

func versionMain(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "imhook", version)
	return 0
}
