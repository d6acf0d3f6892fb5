// Package wasmbuild compiles imhook plugins: a Go plugin (a main package
// using sdk/plugin) to a WebAssembly module with the flags imhook documents
// (docs/sdk.md, the Makefile's examples rule):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o plugin.wasm ./pkg
//
// and WebAssembly text (.wat) to a module with wabt's wat2wasm, for the
// hand-written guests the tests use.
//
// Go builds run the go command found on PATH, which under go test is the
// toolchain running the test: go test puts its own GOROOT/bin first on PATH.
// Plugins need Go 1.24 or later (-buildmode=c-shared on wasip1).
//
// Tests call GoOnce, which builds each package once per test binary and fails
// or skips the test with a message saying why.
//
// Like the rest of sdk/, this package imports only the standard library.
package wasmbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoGo is returned when there is no go command on PATH.
var ErrNoGo = errors.New("wasmbuild: no go command on PATH: install Go 1.24 or later (https://go.dev/dl/) or set Options.Go")

// ErrNoWat2Wasm is returned when there is no wat2wasm on PATH.
var ErrNoWat2Wasm = errors.New("wasmbuild: no wat2wasm on PATH: install wabt (apt-get install wabt, brew install wabt, " +
	"or https://github.com/WebAssembly/wabt/releases)")

// Options tune a Go build. The zero value passes only what every plugin
// needs (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared); Release gives the
// documented build.
type Options struct {
	// Dir is the directory the go command runs in: it selects the module and
	// resolves a relative package path. Empty means the current directory.
	Dir string

	// Output is the file the module is written to, relative to the current
	// directory. Empty means a temporary file, removed once read.
	Output string

	// TrimPath removes file system paths from the module (-trimpath).
	TrimPath bool

	// LDFlags are the linker flags (-ldflags): "-s" drops the symbol table,
	// "-X main.version=2" sets a string variable.
	LDFlags string

	// Go is the go command to run. Empty means "go" on PATH.
	Go string

	// Progress, when set, receives what the go command prints as it works,
	// with -v: the packages as they compile, so that a first build, which
	// compiles the runtime for wasip1, is not silent for a minute.
	Progress io.Writer
}

// Release returns the options of the build docs/sdk.md documents for a
// plugin to upload: -trimpath -ldflags=-s.
func Release() Options {
	return Options{TrimPath: true, LDFlags: "-s"}
}

// Go compiles the main package pkg (an import path, or a directory such as
// "./myplugin" relative to opts.Dir) to a WebAssembly module and returns it.
// A failed build's error holds the command and what it printed.
func Go(ctx context.Context, pkg string, opts Options) ([]byte, error) {
	goCmd, err := opts.goCommand()
	if err != nil {
		return nil, err
	}
	out, cleanup, err := output(opts.Output)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	args := []string{"build", "-buildmode=c-shared"}
	if opts.Progress != nil {
		args = append(args, "-v")
	}
	if opts.TrimPath {
		args = append(args, "-trimpath")
	}
	if opts.LDFlags != "" {
		args = append(args, "-ldflags="+opts.LDFlags)
	}
	args = append(args, "-o", out, pkg)
	if _, err := runTee(ctx, opts.Dir, goEnv, opts.Progress, goCmd, args...); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// goEnv selects the target; cgo has no wasip1 support, and a CGO_ENABLED=1
// in the caller's environment would only produce a confusing error.
var goEnv = []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}

func (o Options) goCommand() (string, error) {
	if o.Go != "" {
		return o.Go, nil
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", ErrNoGo
	}
	return p, nil
}

// WATOptions tune a WAT build.
type WATOptions struct {
	// NoCheck skips validation (wat2wasm --no-check), for modules that are
	// invalid on purpose.
	NoCheck bool
}

// WAT compiles the WebAssembly text file at path with wat2wasm and returns
// the module.
func WAT(ctx context.Context, path string, opts WATOptions) ([]byte, error) {
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, ErrNoWat2Wasm
	}
	out, cleanup, err := output("")
	if err != nil {
		return nil, err
	}
	defer cleanup()
	args := []string{path, "-o", out}
	if opts.NoCheck {
		args = append(args, "--no-check")
	}
	if _, err := run(ctx, "", nil, wat2wasm, args...); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

// output returns the absolute path to write a module to: path, or a file in
// a temporary directory that cleanup removes.
func output(path string) (abs string, cleanup func(), err error) {
	if path != "" {
		abs, err = filepath.Abs(path)
		return abs, func() {}, err
	}
	dir, err := os.MkdirTemp("", "wasmbuild-")
	if err != nil {
		return "", nil, err
	}
	return filepath.Join(dir, "module.wasm"), func() { os.RemoveAll(dir) }, nil
}

// run runs name with args in dir, adding env to the environment, and
// returns its standard output. Its error spells out the command, so that it
// can be run again by hand, and holds what the command printed.
func run(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	return runTee(ctx, dir, env, nil, name, args...)
}

// runTee is run, copying the command's standard error to tee as it comes
// when tee is not nil.
func runTee(ctx context.Context, dir string, env []string, tee io.Writer, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if tee != nil {
		cmd.Stderr = io.MultiWriter(&stderr, tee)
	}
	out, err := cmd.Output()
	if err == nil {
		return out, nil
	}
	line := strings.Join(append(append(env[:len(env):len(env)], name), args...), " ")
	if dir != "" {
		line = "cd " + dir + " && " + line
	}
	return nil, fmt.Errorf("wasmbuild: %s: %w\n%s", line, err, bytes.TrimSpace(append(stderr.Bytes(), out...)))
}
