package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// asToolchain returns node and the repository's node_modules (npm ci at the
// root installs the AssemblyScript compiler). Without them the test skips,
// except in CI (CI set), which must run it.
func asToolchain(t *testing.T) (node, modules string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds wasm with the AssemblyScript compiler; skipped in -short mode")
	}
	skip := t.Skip
	if os.Getenv("CI") != "" {
		skip = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: install nodejs and npm (.ci/run does in CI)")
	}
	modules, err = filepath.Abs(filepath.Join("..", "..", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "assemblyscript", "package.json")); err != nil {
		skip("the AssemblyScript compiler is not installed: run npm ci in the repository's root")
	}
	return node, modules
}

// npmInstallFromRepo does what npm install does in a new AssemblyScript
// project, from the packages the repository's npm ci installed (tests use
// no network): the compiler and its dependencies, the SDK copy linked by
// path as npm links a file: dependency, and its imhook-asc bin.
func npmInstallFromRepo(t *testing.T, dir, modules string) {
	t.Helper()
	link := func(target, name string) {
		t.Helper()
		p := filepath.Join(dir, "node_modules", filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, pkg := range []string{"assemblyscript", "binaryen", "long"} {
		link(filepath.Join(modules, pkg), pkg)
	}
	link(filepath.Join("..", "..", "imhook-sdk-assemblyscript"), "@imhook/sdk-assemblyscript")
	link(filepath.Join("..", "@imhook", "sdk-assemblyscript", "js", "build.js"), ".bin/imhook-asc")
}

// TestNewAssemblyScript: imhook new --lang assemblyscript writes a project
// that builds as is (imhook build, with the project's own compiler), whose
// own test passes under node, and that imhook dev runs: the spam sample is
// refused by the plugin in a local server.
func TestNewAssemblyScript(t *testing.T) {
	node, modules := asToolchain(t)
	dir := filepath.Join(t.TempDir(), "guard")
	imhook(t, "", "new", "--lang", "assemblyscript", dir).want(t, 0, "created plugin guard", "assembly/index.ts",
		"imhook-sdk-assemblyscript/ (the SDK", "npm install")
	imhook(t, "", "build", dir).want(t, 1, "the AssemblyScript compiler is not installed", "run npm install in")
	npmInstallFromRepo(t, dir, modules)

	imhook(t, "", "build", dir).want(t, 0, "building guard: imhook-asc -o", "built ", "commands: callbackBeforeSendSingleMsgCommand", "_initialize used")
	if _, err := os.Stat(filepath.Join(dir, "build", "guard.wasm")); err != nil {
		t.Fatal(err)
	}
	test := exec.Command(node, "--test", "test/")
	test.Dir = dir
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("the new project's test (node --test test/): %v\n%s", err, out)
	}

	r := imhook(t, "", "dev", "--once", dir).want(t, 0, "swapped in version")
	for _, want := range []string{"callbackBeforeSendSingleMsgCommand.json", "callbackBeforeSendSingleMsgCommand.spam.json",
		`"errCode":20001`, "message refused", "word=spam"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("imhook dev: no %q in:\n%s", want, r.stdout)
		}
	}
	// A broken handler is reported with the compiler's message.
	index := filepath.Join(dir, "assembly", "index.ts")
	src, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(index, append(src, "undefinedName();\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	imhook(t, "", "build", dir).want(t, 1, "the build failed", "undefinedName")

	// --update-sdk replaces the SDK copy.
	os.Remove(filepath.Join(dir, "imhook-sdk-assemblyscript", "js", "harness.js"))
	imhook(t, "", "new", "--update-sdk", dir).want(t, 0, "replaced the SDK copy in "+filepath.Join(dir, "imhook-sdk-assemblyscript"))
	if _, err := os.Stat(filepath.Join(dir, "imhook-sdk-assemblyscript", "js", "harness.js")); err != nil {
		t.Fatal(err)
	}
}
