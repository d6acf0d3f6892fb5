package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

func init() {
	commands["dev"] = command{"watch the plugin project here: rebuild, hot-swap into a local imhook, re-send the samples", devMain}
}

// devTenant is the tenant imhook dev's local server runs the plugin for.
const devTenant = "dev"

// devPoll is how often imhook dev looks for changed sources.
const devPoll = 500 * time.Millisecond

func devMain(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := toolFlags("dev", "dev [dir] [--config key=value]... [--once]",
		"Starts imhook in this process (an embedded store in a temporary directory, loopback\n"+
			"listeners, tenant \"dev\"), then builds the plugin project in [dir], swaps it in, sends\n"+
			"every sample callback of testdata/callbacks/ (<command>[.<label>].json) and prints the\n"+
			"replies and the plugin's log lines; again whenever a source file (.go, .ts), go.mod,\n"+
			"package.json or a sample changes (polled every 500ms), until interrupted. A build that\n"+
			"fails or would be refused keeps the previous version serving.",
		"  imhook dev --config banned_words=spam,scam")
	config := fs.StringArray("config", nil, "configuration value key=value of tenant dev (repeatable)")
	once := fs.Bool("once", false, "build, swap and send the samples once, then exit (exit 1 if the build failed)")
	if code := parseTool(fs, args, stdout, stderr, 0, 1); code >= 0 {
		return code
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	proj, err := findProject(dir, "")
	if err != nil {
		fmt.Fprintf(stderr, "imhook dev: %v\n", err)
		return 2
	}
	settings := registry.Settings{Config: map[string]string{}}
	for _, kv := range *config {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "imhook dev: --config %q: want key=value\n", kv)
			return 2
		}
		settings.Config[k] = v
	}
	d, err := startDev(ctx, settings, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imhook dev: %v\n", err)
		return 1
	}
	defer d.stop()
	fmt.Fprintf(stdout, "imhook dev: a local imhook serves tenant %q\n  webhooks:  %s/hooks/%s/<command>\n  admin API: %s (token %s)\n",
		devTenant, d.webURL, devTenant, d.adminURL, d.token)
	var seen map[string]string
	for {
		snap, err := sourcesOf(proj.root)
		if err != nil {
			fmt.Fprintf(stderr, "imhook dev: %v\n", err)
			return 1
		}
		if !mapsEqual(snap, seen) {
			seen = snap
			ok := d.round(ctx, proj, stdout)
			if *once {
				if !ok {
					return 1
				}
				return 0
			}
			fmt.Fprintf(stdout, "watching %s for changes (Ctrl-C stops) ...\n", relPath(proj.root))
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(devPoll):
		}
	}
}

// devServer is imhook dev's in-process server.
type devServer struct {
	srv              *host.Server
	webURL, adminURL string
	token            string // tenant dev's
	opToken          string // the operator's
	cancel           context.CancelFunc
	done             chan error
	logSeq           uint64 // the last log line printed
}

// startDev starts a server on loopback with its store in a temporary
// directory and creates the dev tenant.
func startDev(ctx context.Context, settings registry.Settings, stderr io.Writer) (*devServer, error) {
	data, err := os.MkdirTemp("", "imhook-dev-")
	if err != nil {
		return nil, err
	}
	op := make([]byte, 16)
	rand.Read(op)
	cfg := host.Default()
	cfg.DataDir = data
	cfg.Server.Addr, cfg.Admin.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Admin.Token = hex.EncodeToString(op)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := host.New(ctx, cfg, logger)
	if err != nil {
		os.RemoveAll(data)
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &devServer{srv: srv, cancel: cancel, done: make(chan error, 1), opToken: cfg.Admin.Token,
		webURL: "http://" + hostPort(srv.Addr()), adminURL: "http://" + hostPort(srv.AdminAddr())}
	go func() {
		d.done <- srv.Run(rctx)
		os.RemoveAll(data)
	}()
	for !srv.Directory().Ready() {
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("the local server stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	_, secret, err := srv.Registry().CreateTenant(ctx, devTenant, settings)
	if err != nil {
		d.stop()
		return nil, err
	}
	d.token = admin.JoinToken(devTenant, secret)
	return d, nil
}

func (d *devServer) stop() {
	d.cancel()
	<-d.done
}

// round builds, swaps in and tries the plugin once; it reports whether the
// new build serves.
func (d *devServer) round(ctx context.Context, proj project, w io.Writer) bool {
	fmt.Fprintf(w, "\n== %s\n", time.Now().Format("15:04:05"))
	m, err := buildProject(ctx, proj, w, false) // the server checks it as it installs it
	if err != nil {
		fmt.Fprintf(w, "imhook dev: %v\n(the previous version keeps serving)\n", err)
		return false
	}
	hash, err := d.srv.Install(ctx, devTenant, proj.name, m.wasm)
	if err != nil {
		fmt.Fprintf(w, "imhook dev: the local server refused it: %v\n", err)
		return false
	}
	t, err := d.srv.Registry().Tenant(ctx, devTenant)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, time.Minute)
		_, _, err = d.srv.Directory().Await(actx, devTenant, t.Revision)
		cancel()
	}
	if err != nil {
		fmt.Fprintf(w, "imhook dev: version %s does not serve: %v\n", short(hash), err)
		return false
	}
	fmt.Fprintf(w, "swapped in version %s\n", short(hash))
	d.sendSamples(ctx, proj, w)
	return true
}

// sendSamples posts every sample callback to the local server and prints
// each reply, then the log lines they produced.
func (d *devServer) sendSamples(ctx context.Context, proj project, w io.Writer) {
	files, _ := filepath.Glob(filepath.Join(proj.dir, "testdata", "callbacks", "*.json"))
	if len(files) == 0 {
		fmt.Fprintf(w, "no sample callbacks in testdata/callbacks/ (imhook callback example <command> > testdata/callbacks/<command>.json)\n")
	}
	for _, f := range files {
		base := filepath.Base(f)
		command, _, _ := strings.Cut(strings.TrimSuffix(base, ".json"), ".")
		body, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(w, "  %s: %v\n", base, err)
			continue
		}
		if _, ok := openim.Lookup(command); !ok {
			fmt.Fprintf(w, "  %s: skipped: %q is not a callback command; name samples <command>[.<label>].json\n", base, command)
			continue
		}
		reply, err := postCallback(ctx, d.webURL+"/hooks/"+devTenant+"/"+command, body)
		if err != nil {
			fmt.Fprintf(w, "  %s: %v\n", base, err)
			continue
		}
		effect := "continue"
		if r := openim.NewReply(mustLookup(command)); r != nil && r.DecodeJSON(reply) == nil && r.Common().Stopped() {
			effect = "stop"
		}
		fmt.Fprintf(w, "  %-50s %-8s %s\n", base, effect, bytes.TrimSpace(reply))
	}
	lines, _ := d.srv.Logs().Lines(devTenant, tenantlog.Filter{Level: slog.LevelDebug, After: d.logSeq}, 0)
	for i := range lines {
		fmt.Fprint(w, "  log ")
		printLogLine(w, &lines[i])
		d.logSeq = lines[i].Seq
	}
}

func mustLookup(command string) openim.Command {
	c, _ := openim.Lookup(command)
	return c
}

// postCallback sends one callback as OpenIM does and returns the reply.
func postCallback(ctx context.Context, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, err
}

// sourcesOf returns what imhook dev watches in a project, each file with
// its size and modification time: Go files, go.mod, go.sum, AssemblyScript
// files, package.json, asconfig.json and the sample callbacks, outside
// build/, node_modules/ and hidden directories.
func sourcesOf(root string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "build" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" &&
			!strings.HasSuffix(name, ".ts") && name != "package.json" && name != "asconfig.json" &&
			!(strings.HasSuffix(name, ".json") && strings.Contains(filepath.ToSlash(p), "testdata/callbacks/")) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		out[p] = fmt.Sprintf("%d %d", info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return out, err
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	return !slices.ContainsFunc(keys, func(k string) bool { v, ok := b[k]; return !ok || v != a[k] })
}
