package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins/registry"
)

// serveMain runs the webhook server and the admin API until SIGINT/SIGTERM.
func serveMain(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("imhook serve", pflag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: imhook serve [flags]\n\nRun the OpenIM webhook server and the admin API.\nConfiguration: defaults < --config file < IMHOOK_* environment < flags (docs/config.md).\n\nFlags:")
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nExample:\n  IMHOOK_ADMIN__TOKEN=$(openssl rand -hex 16) imhook serve --data-dir /var/lib/imhook")
	}
	configPath := fs.StringP("config", "c", "", "YAML configuration file (see examples/config/imhook.yaml)")
	addConfigFlags(fs)
	printConfig := fs.Bool("print-config", false, "print the effective configuration (secrets redacted) and exit")
	demo := fs.Bool("demo", false, "create (once) tenant \"demo\" running the moderation example, print how to call it")
	demoPlugin := fs.String("demo-plugin", filepath.Join("build", "examples", "moderation.wasm"), "the plugin --demo installs")
	if err := parseArgs(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "imhook serve: %v (see imhook serve --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "imhook serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := loadConfig(fs, *configPath, os.Environ)
	if err != nil {
		fmt.Fprintf(stderr, "imhook serve: %v\n", err)
		return 2
	}
	if *printConfig {
		writeConfig(stdout, cfg.Redacted())
		return 0
	}
	logger := newLogger(cfg.Log, stderr)
	spareP(&cfg, os.Getenv)

	srv, err := host.New(ctx, cfg, logger)
	if err != nil {
		logger.Error("imhook cannot start", "err", err)
		return 1
	}
	if *demo {
		if err := setUpDemo(ctx, srv, *demoPlugin, stdout); err != nil {
			logger.Error("demo set-up failed", "err", err)
			_ = srv.Shutdown(context.Background())
			return 1
		}
	}
	if err := srv.Run(ctx); err != nil {
		logger.Error("imhook stopped with an error", "err", err)
		return 1
	}
	return 0
}

// newLogger builds the process logger from the log section.
func newLogger(c host.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // Validate checked it
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// writeConfig prints the configuration as sorted key: value lines, the keys
// being those of the file, the environment and docs/config.md.
func writeConfig(w io.Writer, c host.Config) {
	m := make(map[string]any)
	flatten(reflect.ValueOf(c), "", m)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s: %v\n", k, m[k])
	}
}

// Demo set-up: one tenant, the moderation example, two banned words.
const (
	demoTenant = "demo"
	demoName   = "moderation"
)

// setUpDemo creates tenant "demo" with the moderation plugin (idempotently:
// a second run reuses both) and prints the webhooks.yml lines and a curl.
func setUpDemo(ctx context.Context, srv *host.Server, wasmPath string, w io.Writer) error {
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("demo plugin: %w (run `make demo`, which builds it, or pass --demo-plugin)", err)
	}
	reg := srv.Registry()
	token := "(unchanged; created by an earlier --demo run)"
	if _, err := reg.Tenant(ctx, demoTenant); errors.Is(err, registry.ErrNotFound) {
		var secret string
		_, secret, err = reg.CreateTenant(ctx, demoTenant, registry.Settings{
			Config: map[string]string{"banned_words": "spam,scam", "err_msg": "blocked by the imhook demo"},
		})
		if err != nil {
			return err
		}
		token = admin.JoinToken(demoTenant, secret)
	} else if err != nil {
		return err
	}
	hash, err := srv.Install(ctx, demoTenant, demoName, wasm)
	if err != nil {
		return err
	}
	base := "http://" + hostPort(srv.Addr()) + "/hooks/" + demoTenant
	console := ""
	if a := srv.AdminAddr(); a != nil {
		console = "  web console: http://" + hostPort(a) + "/console/ (log in with the tenant admin token)\n"
	}
	fmt.Fprintf(w, `imhook demo: tenant %q runs plugin %q version %s
  tenant admin token: %s
%s
In OpenIM's config/webhooks.yml:

  url: %s
  beforeSendSingleMsg:
    enable: true
    timeout: 5
  beforeSendGroupMsg:
    enable: true
    timeout: 5

Try it (a banned word is refused with nextCode 1):

  curl -s -H 'Content-Type: application/json' -H 'operationID: demo-1' \
    %s/callbackBeforeSendSingleMsgCommand \
    -d '{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"alice","recvID":"bob","contentType":101,"sessionType":1,"content":"{\"content\":\"buy spam now\"}"}'

`, demoTenant, demoName, hash[:12], token, console, base, base)
	return nil
}

// hostPort turns a listener address into one a local curl can reach.
func hostPort(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// spareP keeps one Go P free of guest code where there are cores to spare.
// Compiled guest code is not preempted by Go's scheduler, so when guests
// held every P the network was polled by sysmon alone (every 10 ms) and
// other tenants' callbacks waited that long to be read: a victim's p99 of
// 9-14 ms next to a budget burner. With several cores, guests get a CPU
// slot per core but one and the process keeps its P per core: no more
// threads than cores, so no thread waits for the kernel's time slice while
// another holds its run queue. With one core there is none to spare: the
// one slot and a second P, which shares the core between two threads, and
// the host's tail becomes the kernel's time slice (p99 4.7-5.6 ms in imhook
// bench --compare pinned to one core, against 1.0 ms with one P). One P
// with the engine polling the network at slice ends (plugins.pollNetwork,
// GOMAXPROCS=1) kept neighbours within target on the median but stalled a
// victim 70-100 ms in the first budget-burner round of both runs, not
// explained yet: the second P stays. An operator who sets GOMAXPROCS or
// sandbox.cpu_slots decides alone. Measured with imhook bench --neighbour
// and --compare (docs/performance.md).
func spareP(cfg *host.Config, getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" || cfg.Sandbox.CPUSlots != 0 {
		return
	}
	n := runtime.GOMAXPROCS(0)
	if n >= 2 {
		cfg.Sandbox.CPUSlots = n - 1
		return
	}
	cfg.Sandbox.CPUSlots = 1
	runtime.GOMAXPROCS(2)
}
