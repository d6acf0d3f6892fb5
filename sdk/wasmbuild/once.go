package wasmbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// TB is the part of testing.TB that GoOnce uses; *testing.T, *testing.B and
// *testing.F satisfy it. An interface keeps package testing out of programs
// that build plugins.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// GoOnce returns the module Go(ctx, pkg, opts) builds, building it once per
// test binary: every test asking for the same package with the same
// options shares the build and the returned slice, which must not be
// modified. A failed build fails each such test with the go command's
// output; a missing go command skips them. opts.Output must be empty: write
// the module where a test needs a file.
//
// GoOnce also tells go test which files the module was built from, so that
// editing one of them invalidates cached test results.
func GoOnce(tb TB, pkg string, opts Options) []byte {
	tb.Helper()
	if opts.Output != "" {
		tb.Fatalf("wasmbuild.GoOnce(%s): Options.Output is set; GoOnce shares one module between tests, write it where a test needs it", pkg)
	}
	dir, err := filepath.Abs(opts.Dir) // a test may change the working directory
	if err != nil {
		tb.Fatalf("wasmbuild.GoOnce(%s): %v", pkg, err)
	}
	opts.Dir = dir
	v, _ := builds.LoadOrStore(buildKey{pkg, opts}, &build{})
	b := v.(*build)
	b.once.Do(func() {
		ctx := context.Background()
		if b.wasm, b.err = Go(ctx, pkg, opts); b.err == nil {
			b.err = statSources(ctx, pkg, opts)
		}
	})
	switch {
	case errors.Is(b.err, ErrNoGo):
		tb.Skipf("%v", b.err)
	case b.err != nil:
		tb.Fatalf("%v", b.err)
	}
	return b.wasm
}

// builds holds GoOnce's builds by buildKey.
var builds sync.Map

type buildKey struct {
	pkg  string
	opts Options
}

type build struct {
	once sync.Once
	wasm []byte
	err  error
}

// statSources stats the files the module was built from. go test caches a
// test's result with the files the test process opened or stat'ed; the build
// read the sources in a child process, which go test does not see.
func statSources(ctx context.Context, pkg string, opts Options) error {
	goCmd, err := opts.goCommand()
	if err != nil {
		return err
	}
	out, err := run(ctx, opts.Dir, goEnv, goCmd, "list", "-deps", "-json=Dir,Standard,GoFiles,EmbedFiles,Module", pkg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			Dir                 string
			Standard            bool
			GoFiles, EmbedFiles []string
			Module              *struct{ GoMod string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("wasmbuild: go list -deps %s: %w", pkg, err)
		}
		if p.Standard {
			continue
		}
		os.Stat(p.Dir) // its modification time changes when a file is added
		for _, f := range append(p.GoFiles, p.EmbedFiles...) {
			os.Stat(filepath.Join(p.Dir, f))
		}
		if p.Module != nil && p.Module.GoMod != "" {
			os.Stat(p.Module.GoMod)
		}
	}
}
