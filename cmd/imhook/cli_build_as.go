package main

// imhook build, push, dev and replay --build on an AssemblyScript project
// (docs/sdk-assemblyscript.md): a package.json beside assembly/index.ts, as
// imhook new --lang assemblyscript writes and examples/moderation-as is. It
// is built by the SDK's imhook-asc from the project's own npm install (the
// compiler version its package.json pins), then checked like a Go module.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"

	"github.com/imhook/imhook/cmd/imhook/internal/scaffold"
)

// findASProject reports whether dir is an AssemblyScript project: a
// package.json and assembly/index.ts. name overrides the plugin name,
// which is otherwise package.json's (without an npm scope).
func findASProject(dir, name string) (project, bool) {
	pkg, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return project{}, false
	}
	if _, err := os.Stat(filepath.Join(dir, "assembly", "index.ts")); err != nil {
		return project{}, false
	}
	if name == "" {
		var p struct{ Name string }
		if json.Unmarshal(pkg, &p) == nil && p.Name != "" {
			name = scaffold.NameFromDir(path.Base(p.Name))
		} else {
			name = scaffold.NameFromDir(dir)
		}
	}
	return project{root: dir, dir: dir, pkg: ".", name: name, output: filepath.Join(dir, "build", name+".wasm"), assemblyScript: true}, true
}

// ascBin finds the SDK's build script as npm installed it
// (node_modules/.bin/imhook-asc), in root or a directory above it (an npm
// workspace, as in imhook's repository).
func ascBin(root string) (string, error) {
	for d := root; ; d = filepath.Dir(d) {
		bin := filepath.Join(d, "node_modules", ".bin", "imhook-asc")
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("the AssemblyScript compiler is not installed (no node_modules/.bin/imhook-asc in %s or above): run npm install in %s", root, root)
		}
	}
}

// buildAS compiles proj with imhook-asc into proj.output and returns the
// module; the compiler's messages go to w.
func buildAS(ctx context.Context, proj project, w io.Writer) ([]byte, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, errors.New("no node on PATH: install Node 20 or later and npm, then npm install in the project")
	}
	bin, err := ascBin(proj.root)
	if err != nil {
		return nil, err
	}
	args := []string{"-o", proj.output}
	if _, err := os.Stat(filepath.Join(proj.root, "asconfig.json")); err != nil {
		args = append([]string{"assembly/index.ts"}, args...) // no asconfig.json to name the entry
	}
	fmt.Fprintf(w, "building %s: imhook-asc %s (AssemblyScript)\n", proj.name, joinArgs(args))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = proj.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, bytes.TrimRight(out.Bytes(), "\n"))
	}
	return os.ReadFile(proj.output)
}

// joinArgs joins command arguments for a message, relative paths shortened.
func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += relPath(a)
	}
	return s
}
