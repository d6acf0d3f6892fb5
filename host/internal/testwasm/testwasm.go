// Package testwasm builds Go plugins to WebAssembly for tests: the real
// examples under examples/ and the test guests under host/testdata. Build
// each once per test binary (in TestMain or behind a sync.Once); Go's build
// cache makes a rebuild of unchanged sources take about a second, the first
// build several.
package testwasm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Root returns the module root: the nearest directory upward from the
// working directory that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testwasm: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Build compiles the main package pkg (relative to the module root, for
// example "examples/moderation") with GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared into dir and returns the module bytes. ldflags, when
// not empty, is passed as -ldflags (for example "-X main.version=2").
func Build(dir, pkg, ldflags string) ([]byte, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_")+strings.ReplaceAll(ldflags, " ", "_")+".wasm")
	args := []string{"build", "-buildmode=c-shared", "-o", out}
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	cmd := exec.Command(filepath.Join(goroot(), "bin", "go"), append(args, "./"+pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testwasm: build %s: %v\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

// goroot is the Go installation running the tests, so the guest is built by
// the same toolchain.
func goroot() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return strings.TrimSpace(string(out))
}
