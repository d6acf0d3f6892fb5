package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/cmd/imhook/internal/scaffold"
)

// The tenant's workflow (issue 16): new, build, push, dev, callback, logs,
// capture, replay. Each registers itself here so that main.go's table stays
// the servers' and the admin clients'.
func init() {
	commands["new"] = command{"write a new plugin project (builds and tests as is)", newMain}
	commands["callback"] = command{"list OpenIM's callback commands, print the example body of one", callbackMain}
}

// toolFlags returns the flag set of a workflow command, whose usage shows
// what it does and an example.
func toolFlags(name, usage, about, example string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: imhook %s\n\n%s\n\nExample:\n%s\n", usage, about, example)
		if fs.HasFlags() {
			fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
		}
	}
	return fs
}

// parseTool parses args; it returns the exit code when the command should
// stop (help asked: 0, a mistake: 2), else -1.
func parseTool(fs *pflag.FlagSet, args []string, stdout, stderr io.Writer, minArgs, maxArgs int) int {
	if err := parseArgs(fs, args, stdout, stderr); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "imhook %s: %v\nRun 'imhook %s --help' for usage.\n", fs.Name(), err, fs.Name())
		return 2
	}
	if n := fs.NArg(); n < minArgs || (maxArgs >= 0 && n > maxArgs) {
		fmt.Fprintf(stderr, "imhook %s: wrong number of arguments (%d)\n", fs.Name(), n)
		fs.Usage()
		return 2
	}
	return -1
}

func newMain(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := toolFlags("new", "new <dir> [--lang go|assemblyscript] [--name plugin] [--module path] | new --update-sdk [dir]",
		"Writes a new plugin project into <dir> (which must not exist or be empty): a go.mod that\n"+
			"builds as is, a handler (main.go), a native test (main_test.go), sample callbacks\n"+
			"(testdata/callbacks/), a README, and a copy of the SDK (imhook-sdk/) the go.mod points at.\n"+
			"With --lang assemblyscript: a package.json, asconfig.json, the handler (assembly/index.ts),\n"+
			"a test for node's test runner (test/), the samples, a README, and a copy of the\n"+
			"AssemblyScript SDK ("+scaffold.ASSDKDir+"/) the package.json depends on by path; npm install\n"+
			"then fetches the compiler. Nothing else is downloaded. --update-sdk replaces only the SDK\n"+
			"copy of an existing project.",
		"  imhook new moderation && cd moderation && go test ./... && imhook build\n"+
			"  imhook new --lang assemblyscript guard && cd guard && npm install && npm test && imhook build")
	lang := fs.String("lang", scaffold.LangGo, "the plugin's language: go or assemblyscript")
	name := fs.String("name", "", "plugin name (default: the directory's name)")
	module := fs.String("module", "", "go.mod module path (default: the plugin name)")
	update := fs.Bool("update-sdk", false, "replace the SDK copy (imhook-sdk/) of the project in [dir] (default .) with this imhook's SDK")
	if code := parseTool(fs, args, stdout, stderr, 0, 1); code >= 0 {
		return code
	}
	if *update {
		dir := "."
		if fs.NArg() == 1 {
			dir = fs.Arg(0)
		}
		files, err := scaffold.UpdateSDK(dir, version)
		if err != nil {
			fmt.Fprintf(stderr, "imhook new: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "replaced the SDK copy in %s (%d files) with imhook %s's\n", filepath.Join(dir, topDir(files[0])), len(files), version)
		return 0
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "imhook new: say where: imhook new <dir>")
		return 2
	}
	dir := fs.Arg(0)
	if *lang != scaffold.LangGo && *lang != scaffold.LangAssemblyScript {
		fmt.Fprintf(stderr, "imhook new: --lang %q: want go or assemblyscript\n", *lang)
		return 2
	}
	if *lang == scaffold.LangAssemblyScript && fs.Changed("module") {
		fmt.Fprintln(stderr, "imhook new: --module names a Go module; an AssemblyScript project has none")
		return 2
	}
	p := scaffold.Params{Name: *name, Module: *module, Version: version, Lang: *lang}
	if p.Name == "" {
		p.Name = scaffold.NameFromDir(dir)
	}
	files, err := scaffold.New(dir, p)
	if err != nil {
		fmt.Fprintf(stderr, "imhook new: %v\n", err)
		return 1
	}
	sdkDir, test := scaffold.SDKDir, "go test ./...     # test natively"
	if *lang == scaffold.LangAssemblyScript {
		sdkDir, test = scaffold.ASSDKDir, "npm install       # the compiler, once\n  npm test          # build, then test natively under node"
	}
	var own []string
	for _, f := range files {
		if !strings.HasPrefix(f, sdkDir+"/") {
			own = append(own, f)
		}
	}
	fmt.Fprintf(stdout, "created plugin %s in %s:\n", p.Name, dir)
	for _, f := range own {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintf(stdout, "  %s/ (the SDK, %d files)\n", sdkDir, len(files)-len(own))
	fmt.Fprintf(stdout, "\nNext:\n  cd %s\n  %s\n  imhook build      # build/%s.wasm\n  imhook dev        # rebuild and re-send the samples on every save\n  imhook push       # upload and activate (IMHOOK_ADMIN_URL, IMHOOK_TOKEN)\n", dir, test, p.Name)
	return 0
}

// topDir is the first element of a slash-separated relative path.
func topDir(p string) string {
	dir, _, _ := strings.Cut(p, "/")
	return dir
}

func callbackMain(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := toolFlags("callback", "callback list | callback example <command>",
		"Lists OpenIM's 52 webhook callback commands, or prints the example body of one from the\n"+
			"verified catalog the SDK is generated from: a real callback to try a plugin with.",
		"  imhook callback example callbackBeforeAddFriendCommand > friend.json\n"+
			"  imhook run build/p.wasm --command callbackBeforeAddFriendCommand --file friend.json")
	if code := parseTool(fs, args, stdout, stderr, 1, 2); code >= 0 {
		return code
	}
	cmds, err := scaffold.Commands()
	if err != nil {
		fmt.Fprintf(stderr, "imhook callback: %v\n", err)
		return 1
	}
	switch {
	case fs.Arg(0) == "list" && fs.NArg() == 1:
		for _, c := range cmds {
			fmt.Fprintf(stdout, "%-46s %-6s %s\n", c.Name, c.Phase, c.Trigger)
		}
		return 0
	case fs.Arg(0) == "example" && fs.NArg() == 2:
		b, err := scaffold.Example(fs.Arg(1))
		if err != nil {
			fmt.Fprintf(stderr, "imhook callback example: %v\n", err)
			return 2
		}
		stdout.Write(b)
		return 0
	}
	fmt.Fprintf(stderr, "imhook callback: want 'list' or 'example <command>'\n")
	fs.Usage()
	return 2
}
