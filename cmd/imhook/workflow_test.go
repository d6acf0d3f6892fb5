package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/registry"
)

// TestTenantWorkflow drives the whole path as a new tenant through a real
// server (loopback HTTP, bbolt on disk): new -> go test -> build -> push ->
// callback -> logs -> capture -> change the code -> replay -> push ->
// rollback. The project lives in a temporary directory outside the
// repository and builds without a network (GOPROXY=off).
func TestTenantWorkflow(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	ctx := context.Background()
	d, err := startDev(ctx, registry.Settings{}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	r := imhook(t, "", "tenant", "create", "acme", "--admin-url", d.adminURL, "--token", d.opToken).want(t, 0)
	api := []string{"--admin-url", d.adminURL, "--token", tokenRe.FindStringSubmatch(r.stdout)[1]}
	cli := func(args ...string) result {
		t.Helper()
		return imhook(t, "", append(args, api...)...)
	}

	dir := filepath.Join(t.TempDir(), "guard")
	imhook(t, "", "new", dir).want(t, 0, "created plugin guard", "imhook-sdk/ (the SDK")
	gotest := exec.Command("go", "test", "./...")
	gotest.Dir = dir
	if out, err := gotest.CombinedOutput(); err != nil {
		t.Fatalf("go test in the new project: %v\n%s", err, out)
	}

	imhook(t, "", "build", dir).want(t, 0, "built ", "commands: callbackBeforeSendSingleMsgCommand", "_initialize used")
	r = cli("push", dir).want(t, 0, "uploading guard", "uploaded guard version", "serving: the next callback runs version")
	first := regexp.MustCompile(`uploaded guard version ([0-9a-f]{12})`).FindStringSubmatch(r.stdout)[1]

	samples := filepath.Join(dir, "testdata", "callbacks")
	plain, err := os.ReadFile(filepath.Join(samples, "callbackBeforeSendSingleMsgCommand.json"))
	if err != nil {
		t.Fatal(err)
	}
	spam, err := os.ReadFile(filepath.Join(samples, "callbackBeforeSendSingleMsgCommand.spam.json"))
	if err != nil {
		t.Fatal(err)
	}
	send := func(body []byte) string {
		t.Helper()
		reply, err := postCallback(ctx, d.webURL+"/hooks/acme/callbackBeforeSendSingleMsgCommand", body)
		if err != nil {
			t.Fatal(err)
		}
		return string(reply)
	}
	if reply := send(spam); !strings.Contains(reply, `"errCode":20001`) {
		t.Fatalf("spam answered %s", reply)
	}
	cli("logs").want(t, 0, "guard "+first+" callbackBeforeSendSingleMsgCommand: message refused", "word=spam", "from=user_a")

	cli("capture", "on", "--redact", "ex").want(t, 0, "capture on for tenant acme", "ex redacted")
	send(plain)
	send(spam)
	r = cli("capture", "list").want(t, 0, "capture on; 2 kept")
	if !strings.Contains(r.stdout, "guard@"+first) || !strings.Contains(r.stdout, "stopped") {
		t.Fatalf("capture list:\n%s", r.stdout)
	}

	// The change: ban "hello" instead of "spam".
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(src, []byte(`[]string{"spam"}`), []byte(`[]string{"hello"}`), 1)
	if bytes.Equal(changed, src) {
		t.Fatal("main.go template changed: the test's edit no longer applies")
	}
	if err := os.WriteFile(main, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	r = cli("replay", "--build", dir).want(t, 0, "2 of 2 replies would change", "CHANGED",
		`errCode: 0 -> 20001`, `errCode: 20001 -> 0`, `nextCode: 1 -> 0`)
	cli("replay").want(t, 0, "0 of 2 replies would change") // the active version answers as it did

	r = cli("push", dir).want(t, 0, "uploaded guard version", "serving:")
	if second := regexp.MustCompile(`uploaded guard version ([0-9a-f]{12})`).FindStringSubmatch(r.stdout)[1]; second == first {
		t.Fatal("the changed build has the same version")
	}
	if reply := send(plain); !strings.Contains(reply, `"errCode":20001`) {
		t.Fatalf("after the push, hello answered %s", reply)
	}
	cli("plugin", "rollback", "guard").want(t, 0, "guard rolled back; active: version "+first)
	if reply := send(spam); !strings.Contains(reply, `"errCode":20001`) {
		t.Fatalf("after the rollback, spam answered %s", reply)
	}
	if reply := send(plain); strings.Contains(reply, `"errCode":20001`) {
		t.Fatalf("after the rollback, hello answered %s", reply)
	}
}

// TestWorkflowHelp: every command and verb prints its usage with an example
// on stdout, exit 0.
func TestWorkflowHelp(t *testing.T) {
	t.Parallel()
	var asks [][]string
	for name := range commands {
		if name != "version" && name != "bench" { // bench's usage is its examples
			asks = append(asks, []string{name, "--help"})
		}
	}
	groups := map[string]map[string]subcommand{"capture": captureCommands, "tenant": tenantCommands, "plugin": pluginCommands,
		"queue": queueCommands, "secret": secretCommands, "store": storeCommands, "kv": kvCommands}
	for group, verbs := range groups {
		for verb := range verbs {
			asks = append(asks, []string{group, verb, "-h"})
		}
	}
	for _, args := range asks {
		r := imhook(t, "", args...)
		want := "Example"
		if _, group := groups[args[0]]; group && len(args) == 2 {
			want = "Commands:"
		}
		if r.code != 0 || !strings.Contains(r.stdout, "Usage") || !strings.Contains(r.stdout, want) || r.stderr != "" {
			t.Errorf("imhook %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0, the usage with %q on stdout alone", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
		}
	}
	imhook(t, "", "callback", "example", "callbackNope").want(t, 2, `unknown command "callbackNope"`)
	imhook(t, "", "callback", "example", "callbackBeforeAddFriendCommand").want(t, 0, `"fromUserID": "user_a"`)
	if r := imhook(t, "", "callback", "list").want(t, 0); strings.Count(r.stdout, "\n") != 52 {
		t.Fatalf("callback list has %d lines, want 52", strings.Count(r.stdout, "\n"))
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	imhook(t, "", "new", dir).want(t, 1, "is not empty")
	imhook(t, "", "new", filepath.Join(t.TempDir(), "Bad Name!"), "--name", "Bad").want(t, 1, `plugin name "Bad"`)
	imhook(t, "", "build", t.TempDir()).want(t, 2, "no go.mod in")
	imhook(t, "", "new", filepath.Join(t.TempDir(), "p"), "--lang", "cobol").want(t, 2, `--lang "cobol": want go or assemblyscript`)
}

// TestBuildRefuses: a module the server would refuse fails the check with
// the sandbox's reason: a command instead of a reactor (the wrong
// -buildmode), and missing exports.
func TestBuildRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, want string }{
		{filepath.Join("..", "..", "plugins", "testdata", "command.wasm"), "c-shared"},
		{filepath.Join(fixtureDir, "no_handle.wasm"), "imhook_handle"},
		{filepath.Join(fixtureDir, "wrong_abi.wasm"), "abi version"},
	} {
		wasm, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := checkModule(t.Context(), "p", wasm); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.file, err, tc.want)
		}
	}
	m, err := checkModule(t.Context(), "p", mustRead(t, filepath.Join(fixtureDir, "stop.wasm")))
	if err != nil || len(m.info.Commands) != 1 {
		t.Fatalf("stop.wasm: %+v, %v", m, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLogsFollow: imhook logs -f prints lines as they come, across the
// server's stream windows, each line once.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	logs := tenantlog.New(tenantlog.Options{})
	srv := admintest.Start(t, admin.Options{Logs: logs, FollowWindow: 100 * time.Millisecond})
	r := imhook(t, "", "tenant", "create", "acme", "--admin-url", srv.URL, "--token", srv.OperatorToken).want(t, 0)
	tok := tokenRe.FindStringSubmatch(r.stdout)[1]
	logs.Add("acme", tenantlog.Line{Kind: tenantlog.KindLog, Plugin: "p", Command: "c", Message: "first", Attrs: map[string]string{"k": "v w"}})
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncbuf.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"logs", "-f", "--admin-url", srv.URL, "--token", tok}, strings.NewReader(""), &out, &errb)
	}()
	waitFor := func(s string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), s); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after 30s; stdout:\n%s\nstderr:\n%s", s, out.String(), errb.String())
			}
		}
	}
	waitFor(`p c: first k="v w"`)
	logs.Add("acme", tenantlog.Line{Kind: tenantlog.KindFailure, Level: "warn", Plugin: "p", Command: "c", Message: "second", Failure: "cpu_time", Policy: "open"})
	waitFor("[failure cpu_time, policy open] p c: second")
	time.Sleep(300 * time.Millisecond) // a few windows end and the client resumes
	logs.Add("acme", tenantlog.Line{Kind: tenantlog.KindLog, Message: "third"})
	logs.Add("beta", tenantlog.Line{Kind: tenantlog.KindLog, Message: "of beta"})
	waitFor("third")
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errb.String())
	}
	if s := out.String(); strings.Count(s, "first") != 1 || strings.Count(s, "second") != 1 || strings.Contains(s, "beta") {
		t.Fatalf("stdout:\n%s", s)
	}
}

// TestDevOnce: imhook dev builds the project, swaps it into its own server
// and sends the samples: the plain one goes through, the spam is refused,
// and the plugin's line is printed.
func TestDevOnce(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	dir := filepath.Join(t.TempDir(), "devguard")
	imhook(t, "", "new", dir).want(t, 0)
	r := imhook(t, "", "dev", "--once", dir, "--config", "banned_words=spam").want(t, 0, "a local imhook serves tenant \"dev\"", "swapped in version")
	for _, want := range []string{
		"callbackBeforeSendSingleMsgCommand.json", "continue",
		"callbackBeforeSendSingleMsgCommand.spam.json", "stop", `"errCode":20001`,
		"log ", "devguard", "message refused", "word=spam",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("no %q in:\n%s", want, r.stdout)
		}
	}
	// A broken build is reported, exit 1 with --once.
	os.WriteFile(filepath.Join(dir, "broken.go"), []byte("package main\nfunc broken() { undefined() }\n"), 0o644)
	imhook(t, "", "dev", "--once", dir).want(t, 1, "the build failed", "undefined")
}

// TestSources: what imhook dev watches changes when a source, go.mod or a
// sample changes, and not for build outputs or hidden directories.
func TestSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n")
	write("main.go", "package main\n")
	write("testdata/callbacks/c.json", "{}")
	snap := func() map[string]string {
		t.Helper()
		m, err := sourcesOf(dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := snap()
	if len(before) != 3 {
		t.Fatalf("watching %v", before)
	}
	write("build/x.wasm", "wasm")
	write(".git/HEAD", "ref")
	write("README.md", "# x")
	if !mapsEqual(before, snap()) {
		t.Fatal("build output, .git or README counted as a change")
	}
	write("main.go", "package main // changed\n")
	if mapsEqual(before, snap()) {
		t.Fatal("main.go changed, not seen")
	}
	before = snap()
	write("testdata/callbacks/d.json", "{}")
	if mapsEqual(before, snap()) {
		t.Fatal("a new sample not seen")
	}
	// An AssemblyScript project's sources; not what npm installed.
	before = snap()
	write("node_modules/assemblyscript/std/x.ts", "x")
	if !mapsEqual(before, snap()) {
		t.Fatal("node_modules counted as a change")
	}
	for _, name := range []string{"assembly/index.ts", "package.json", "asconfig.json"} {
		write(name, "changed")
		if mapsEqual(before, snap()) {
			t.Fatalf("%s changed, not seen", name)
		}
		before = snap()
	}
}
