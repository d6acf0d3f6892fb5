package wasmbuild_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/imhook/imhook/sdk/wasmbuild"
)

// plugin is a Go plugin that puts main.version in its reply.
const plugin = "./testdata/version"

func TestGo(t *testing.T) {
	abs, err := filepath.Abs("testdata/version")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		opts    wasmbuild.Options
		stamp   string // a string the module holds
		symbols bool   // a "name" section: no -ldflags=-s
		paths   bool   // the sources' absolute paths: no -trimpath
	}{
		{"bare", wasmbuild.Options{}, "unset", true, true},
		{"release", wasmbuild.Release(), "unset", false, false},
		{"ldflags", wasmbuild.Options{LDFlags: "-X main.version=stamp-7f3a9c"}, "stamp-7f3a9c", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wasm, err := wasmbuild.Go(t.Context(), plugin, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			sections := parse(t, wasm)
			// A reactor (-buildmode=c-shared) exporting the plugin ABI.
			for _, name := range []string{"_initialize", "imhook_handle", "memory"} {
				if !slices.Contains(sections.exports, name) {
					t.Errorf("export %q missing from %q", name, sections.exports)
				}
			}
			if slices.Contains(sections.exports, "_start") {
				t.Error("a command module (_start), not a reactor")
			}
			if !bytes.Contains(wasm, []byte(tt.stamp)) {
				t.Errorf("module does not hold %q", tt.stamp)
			}
			if got := slices.Contains(sections.custom, "name"); got != tt.symbols {
				t.Errorf("name section %v, want %v", got, tt.symbols)
			}
			if got := bytes.Contains(wasm, []byte(abs)); got != tt.paths {
				t.Errorf("holds the path %s: %v, want %v", abs, got, tt.paths)
			}
		})
	}
}

// TestGoDirAndOutput builds from another directory: the package is found
// from Dir, the output is written relative to the current directory.
func TestGoDirAndOutput(t *testing.T) {
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	t.Chdir(cwd)
	wasm, err := wasmbuild.Go(t.Context(), "./version", wasmbuild.Options{Dir: testdata, Output: "out.wasm"})
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(cwd, "out.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, wasm) {
		t.Errorf("wrote %d bytes, returned %d", len(written), len(wasm))
	}
}

func TestGoFails(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "go.mod", "module broken\n\ngo 1.24\n")
	write(t, dir, "main.go", "package main\n\nfunc main() { undefinedFunc() }\n")
	_, err := wasmbuild.Go(t.Context(), ".", wasmbuild.Options{Dir: dir})
	if err == nil {
		t.Fatal("a package that does not compile built")
	}
	// The command to run again, and the compiler's message.
	for _, want := range []string{"cd " + dir + " && GOOS=wasip1 GOARCH=wasm", "build -buildmode=c-shared", "undefined: undefinedFunc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not hold %q", err, want)
		}
	}
}

func TestNoTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := wasmbuild.Go(t.Context(), plugin, wasmbuild.Options{}); !errors.Is(err, wasmbuild.ErrNoGo) {
		t.Errorf("Go without go on PATH: %v, want ErrNoGo", err)
	}
	if _, err := wasmbuild.WAT(t.Context(), "x.wat", wasmbuild.WATOptions{}); !errors.Is(err, wasmbuild.ErrNoWat2Wasm) {
		t.Errorf("WAT without wat2wasm on PATH: %v, want ErrNoWat2Wasm", err)
	}
}

func TestWAT(t *testing.T) {
	dir := t.TempDir()
	valid := write(t, dir, "valid.wat", `(module (func (export "f") (result i32) (i32.const 7)))`)
	invalid := write(t, dir, "invalid.wat", `(module (func (export "f") (global.set 0 (i32.const 7))))`)
	wasm, err := wasmbuild.WAT(t.Context(), valid, wasmbuild.WATOptions{})
	if errors.Is(err, wasmbuild.ErrNoWat2Wasm) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(t, wasm).exports; !slices.Equal(got, []string{"f"}) {
		t.Errorf("exports %q, want [f]", got)
	}
	if _, err := wasmbuild.WAT(t.Context(), invalid, wasmbuild.WATOptions{}); err == nil || !strings.Contains(err.Error(), "wat2wasm "+invalid) {
		t.Errorf("invalid module: %v, want wat2wasm's refusal", err)
	}
	if _, err := wasmbuild.WAT(t.Context(), invalid, wasmbuild.WATOptions{NoCheck: true}); err != nil {
		t.Errorf("invalid module with NoCheck: %v", err)
	}
}

func TestGoOnce(t *testing.T) {
	t.Run("shares one build", func(t *testing.T) {
		opts := wasmbuild.Options{LDFlags: "-X main.version=once"}
		a, b := wasmbuild.GoOnce(t, plugin, opts), wasmbuild.GoOnce(t, plugin, opts)
		if &a[0] != &b[0] {
			t.Error("built twice")
		}
	})
	t.Run("fails on a build error", func(t *testing.T) {
		var r recorder
		r.run(func(tb wasmbuild.TB) { wasmbuild.GoOnce(tb, "./testdata/nosuch", wasmbuild.Options{}) })
		if !strings.Contains(r.failed, "nosuch") || r.skipped != "" {
			t.Errorf("failed %q, skipped %q; want a failure naming the package", r.failed, r.skipped)
		}
	})
	t.Run("fails with Output", func(t *testing.T) {
		var r recorder
		r.run(func(tb wasmbuild.TB) { wasmbuild.GoOnce(tb, plugin, wasmbuild.Options{Output: "x.wasm"}) })
		if !strings.Contains(r.failed, "Output") {
			t.Errorf("failed %q, want a failure naming Output", r.failed)
		}
	})
	t.Run("skips without go", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		var r recorder
		r.run(func(tb wasmbuild.TB) {
			wasmbuild.GoOnce(tb, plugin, wasmbuild.Options{LDFlags: "-X main.version=nogo"})
		})
		if !strings.Contains(r.skipped, "install Go") || r.failed != "" {
			t.Errorf("failed %q, skipped %q; want a skip saying to install Go", r.failed, r.skipped)
		}
	})
}

// recorder is a wasmbuild.TB that records a failure or a skip.
type recorder struct{ failed, skipped string }

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f on a goroutine of its own, as testing does, so that Fatalf and
// Skipf can end it.
func (r *recorder) run(f func(wasmbuild.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// module is what the tests read of a WebAssembly binary.
type module struct {
	exports []string // export names
	custom  []string // custom section names
}

// parse reads the section list of a WebAssembly binary.
func parse(t *testing.T, wasm []byte) module {
	t.Helper()
	var m module
	if !bytes.HasPrefix(wasm, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("not a WebAssembly module: % x", wasm[:min(8, len(wasm))])
	}
	r := reader{b: wasm[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		s := reader{b: r.bytes(r.uint())}
		switch id {
		case 0:
			m.custom = append(m.custom, string(s.bytes(s.uint())))
		case 7:
			for n := s.uint(); n > 0 && s.err == nil; n-- {
				m.exports = append(m.exports, string(s.bytes(s.uint())))
				s.byte() // kind
				s.uint() // index
			}
		}
		r.err = cmp.Or(r.err, s.err)
	}
	if r.err != nil {
		t.Fatalf("malformed module: %v", r.err)
	}
	return m
}

// reader decodes the bytes and LEB128 integers of a WebAssembly binary.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = cmp.Or(r.err, errors.New("truncated"))
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *reader) uint() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		b := r.byte()
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v
		}
	}
	r.err = cmp.Or(r.err, errors.New("LEB128 too long"))
	return 0
}
