package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/imhook/imhook/cmd/imhook/internal/scaffold"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

func init() {
	commands["build"] = command{"build the plugin project here to build/<name>.wasm and check it loads", buildMain}
}

// buildFlagsLine is the go build imhook build runs, for messages.
const buildFlagsLine = "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s"

func buildMain(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := toolFlags("build", "build [dir] [-o file.wasm] [--name plugin]",
		"Builds the plugin project in [dir] (default: the current directory, or the nearest one\n"+
			"above with a go.mod) with "+buildFlagsLine+",\n"+
			"showing the packages as they compile, then loads the module into a local sandbox under\n"+
			"the server's default limits, as an upload would be checked, and prints its size and what\n"+
			"an instance costs. A module the server would refuse is removed and the build fails (exit 1).",
		"  imhook build && imhook run build/moderation.wasm --command callbackBeforeSendSingleMsgCommand \\\n"+
			"      --file testdata/callbacks/callbackBeforeSendSingleMsgCommand.json")
	output := fs.StringP("output", "o", "", "where to write the module (default build/<name>.wasm in the project)")
	name := fs.String("name", "", "plugin name (default: the last element of the go.mod module path)")
	if code := parseTool(fs, args, stdout, stderr, 0, 1); code >= 0 {
		return code
	}
	dir := "."
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	proj, err := findProject(dir, *name)
	if err != nil {
		fmt.Fprintf(stderr, "imhook build: %v\n", err)
		return 2
	}
	if *output != "" {
		proj.output = *output
	}
	if _, err := buildProject(ctx, proj, stdout, true); err != nil {
		fmt.Fprintf(stderr, "imhook build: %v\n", err)
		return 1
	}
	return 0
}

// project is a plugin: a main package in a module, usually at its root (an
// imhook new project), or in a directory below it (examples/moderation in
// imhook's own repository).
type project struct {
	root   string // the directory of go.mod (of package.json for AssemblyScript)
	dir    string // the main package's directory, root or below
	pkg    string // dir relative to root, for go build: "." or "./examples/x"
	name   string // the plugin's name
	output string // where the module is written
	// assemblyScript: an AssemblyScript project (cli_build_as.go), built
	// with the npm-installed compiler rather than go build.
	assemblyScript bool
}

// findProject finds the module holding dir (the nearest directory at or
// above it with a go.mod); dir is the plugin's main package.
func findProject(dir, name string) (project, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return project{}, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if p, ok := findASProject(d, name); ok {
			return p, nil
		}
		mod, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			p := project{root: d, dir: abs, pkg: "."}
			if rel, err := filepath.Rel(d, abs); err == nil && rel != "." {
				p.pkg = "./" + filepath.ToSlash(rel)
			}
			switch {
			case name != "":
			case p.pkg == ".":
				name = scaffold.NameFromDir(path.Base(modulePath(mod)))
			default:
				name = scaffold.NameFromDir(abs)
			}
			p.name, p.output = name, filepath.Join(d, "build", name+".wasm")
			return p, nil
		}
		if filepath.Dir(d) == d {
			return project{}, fmt.Errorf("no go.mod in %s or above, nor an AssemblyScript project (package.json beside assembly/index.ts): run it in a plugin project (imhook new <dir> writes one)", abs)
		}
	}
}

// modulePath reads the module path of a go.mod.
func modulePath(mod []byte) string {
	for _, line := range strings.Split(string(mod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return "plugin"
}

// builtModule is a module built and checked by buildProject.
type builtModule struct {
	wasm []byte
	info plugins.ModuleInfo
	load time.Duration // compile and first instance
}

// buildProject builds proj, writes the module to proj.output and, with
// check, checks it loads under the default limits, printing progress to w.
// A module that does not load is removed and is an error.
func buildProject(ctx context.Context, proj project, w io.Writer, check bool) (*builtModule, error) {
	if s := scaffold.SDKStatus(proj.root); s != "" && dirExists(filepath.Join(proj.root, scaffold.SDKDir)) {
		fmt.Fprintf(w, "note: %s\n", s)
	}
	rel := relPath(proj.output)
	start := time.Now()
	if err := os.MkdirAll(filepath.Dir(proj.output), 0o755); err != nil {
		return nil, err
	}
	var wasm []byte
	var err error
	if proj.assemblyScript {
		wasm, err = buildAS(ctx, proj, w)
	} else {
		fmt.Fprintf(w, "building %s: %s -o %s %s\n", proj.name, buildFlagsLine, rel, proj.pkg)
		progress := newProgress(w, start)
		opts := wasmbuild.Release()
		opts.Dir, opts.Output, opts.Progress = proj.root, proj.output, progress
		wasm, err = wasmbuild.Go(ctx, proj.pkg, opts)
		progress.stop()
	}
	if err != nil {
		if errors.Is(err, wasmbuild.ErrNoGo) {
			return nil, errors.New("no go command on PATH: install Go 1.24 or later")
		}
		return nil, fmt.Errorf("the build failed: %w", err)
	}
	fmt.Fprintf(w, "built %s: %s in %s\n", rel, formatBytes(int64(len(wasm))), time.Since(start).Round(100*time.Millisecond))
	if !check {
		return &builtModule{wasm: wasm}, nil
	}
	fmt.Fprintln(w, "checking that it loads under the server's default limits ...")
	m, err := checkModule(ctx, proj.name, wasm)
	if err != nil {
		os.Remove(proj.output)
		return nil, fmt.Errorf("%s would be refused by the server, so it was removed: %w", rel, err)
	}
	printModule(w, m)
	return m, nil
}

// checkModule loads wasm into a fresh local sandbox under the default
// limits, as the server checks an upload, and reports what it cost.
func checkModule(ctx context.Context, name string, wasm []byte) (*builtModule, error) {
	eng, err := plugins.NewEngine(ctx, plugins.EngineOptions{Commands: openim.CommandName, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer eng.Close(context.WithoutCancel(ctx))
	sb, err := eng.NewSandbox(plugins.SandboxOptions{ID: "local", Limits: limits.Default()})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := sb.Load(ctx, name, wasm)
	if err != nil {
		if s := loadStderr(err); s != "" {
			err = fmt.Errorf("%w\nguest stderr:\n%s", err, strings.TrimRight(s, "\n"))
		}
		return nil, err
	}
	return &builtModule{wasm: wasm, info: p.Info(), load: time.Since(start)}, nil
}

// printModule prints what checkModule found.
func printModule(w io.Writer, m *builtModule) {
	i := m.info
	fmt.Fprintf(w, "version:  %s (abi %d)\n", short(i.Hash), i.ABIVersion)
	fmt.Fprintf(w, "commands: %s\n", strings.Join(i.Commands, ", "))
	fmt.Fprintf(w, "load:     %s here (compile %s, then metering and the first instance); cached on the server\n",
		m.load.Round(time.Millisecond), i.CompileTime.Round(time.Millisecond))
	if i.CPULimit == plugins.CPULimitInstructions {
		fmt.Fprintf(w, "instance: _initialize used %d instructions of %d (each new instance pays it)\n", i.InitInstructions, limits.Default().InitInstructions)
		fmt.Fprintln(w, "cpu:      metered (instruction budget)")
	} else {
		fmt.Fprintf(w, "cpu:      %s (%s)\n", i.CPULimit, i.CPULimitReason)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// relPath shortens p relative to the working directory when it is below it.
func relPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// progress prints the go command's -v lines indented, and a line every
// progressEvery while nothing else was printed, so that a long first build
// shows it is alive.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	buf   []byte
	done  chan struct{} // closed by stop
	gone  chan struct{} // closed when the ticker goroutine has returned
	once  sync.Once
}

const progressEvery = 10 * time.Second

func newProgress(w io.Writer, start time.Time) *progress {
	p := &progress{w: w, start: start, last: start, done: make(chan struct{}), gone: make(chan struct{})}
	go func() {
		defer close(p.gone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-t.C:
				p.mu.Lock()
				if now.Sub(p.last) >= progressEvery {
					fmt.Fprintf(p.w, "  ... still building (%s)\n", now.Sub(p.start).Round(time.Second))
					p.last = now
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

// Write implements io.Writer for the go command's standard error.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	s := bufio.NewScanner(strings.NewReader(string(p.buf)))
	consumed := 0
	for s.Scan() {
		if consumed+len(s.Text())+1 > len(p.buf) {
			break // the last line is not whole yet
		}
		consumed += len(s.Text()) + 1
		fmt.Fprintf(p.w, "  %s\n", s.Text())
		p.last = time.Now()
	}
	p.buf = p.buf[consumed:]
	return len(b), nil
}

// stop ends the ticker and waits for it, so that nothing writes to w after.
func (p *progress) stop() {
	p.once.Do(func() { close(p.done) })
	<-p.gone
}
