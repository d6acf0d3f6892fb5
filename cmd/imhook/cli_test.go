package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
)

// fixtureDir holds the raw-ABI guests of the admin API tests.
var fixtureDir = filepath.Join("..", "..", "host", "admin", "testdata")

// singleMsg is a callbackBeforeSendSingleMsgCommand body as OpenIM sends it.
const singleMsg = `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"user_a","recvID":"user_b",` +
	`"serverMsgID":"a3f1","clientMsgID":"5e8a","operationID":"op-1","senderPlatformID":1,"senderNickname":"Alice",` +
	`"sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1719812345678,"createTime":1719812345600,` +
	`"content":"{\"content\":\"hello\"}","seq":0,"atUserList":null,"faceURL":"","ex":""}` + "\n"

// result is one finished CLI invocation.
type result struct {
	code           int
	stdout, stderr string
}

// imhook runs the CLI in-process, like the binary would.
func imhook(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// want fails unless the exit code is code and each substring appears in
// stdout+stderr.
func (r result) want(t *testing.T, code int, subs ...string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	all := r.stdout + r.stderr
	for _, s := range subs {
		if !strings.Contains(all, s) {
			t.Fatalf("output does not contain %q\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
		}
	}
	return r
}

var tokenRe = regexp.MustCompile(`token: (\S+)`)

func TestCLITenants(t *testing.T) {
	t.Parallel()
	srv := admintest.Start(t, admin.Options{})
	op := []string{"--admin-url", srv.URL, "--token", srv.OperatorToken}
	cli := func(stdin string, token []string, args ...string) result {
		t.Helper()
		return imhook(t, stdin, append(args, token...)...)
	}

	r := cli("", op, "tenant", "create", "acme").want(t, 0, "created tenant acme", "cannot show it again")
	m := tokenRe.FindStringSubmatch(r.stdout)
	if m == nil || !strings.HasPrefix(m[1], "acme.") {
		t.Fatalf("no token in %q", r.stdout)
	}
	tok := []string{"--admin-url", srv.URL, "--token", m[1]}

	cli(`{"config":{"k":"v"}}`, op, "tenant", "create", "beta", "--settings", "-").want(t, 0, "created tenant beta")
	cli("", op, "tenant", "create", "acme").want(t, 1, "imhook tenant create: tenant[acme]: already exists (HTTP 409)")
	cli(`{"colour":1}`, op, "tenant", "create", "gamma", "--settings", "-").want(t, 2, `unknown field "colour"`)

	r = cli("", op, "tenant", "list").want(t, 0, "ID", "REVISION")
	if !regexp.MustCompile(`(?m)^acme\s+0\s+0\s+\d+`).MatchString(r.stdout) || !strings.Contains(r.stdout, "beta") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	cli("", tok, "tenant", "list").want(t, 1, "token of tenant[acme] cannot manage tenants; use the operator token (HTTP 403)")

	cli("", tok, "tenant", "update", "acme", "--config", "greeting=hi", "--config", "k=v", "--fail-closed", "--err-code", "7001").
		want(t, 0, "tenant acme updated")
	cli("", tok, "tenant", "update", "acme", "--unset-config", "k").want(t, 0)
	var got admin.Tenant
	r = cli("", tok, "tenant", "get", "acme", "--json").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	s := got.Settings
	if s.Config["greeting"] != "hi" || len(s.Config) != 1 || !s.Failure.Closed || s.Failure.ErrCode != 7001 {
		t.Fatalf("settings %+v", s)
	}
	cli("", tok, "tenant", "get", "acme").want(t, 0, "tenant:    acme", `"greeting": "hi"`, "plugins:   none")

	cli("", tok, "tenant", "update", "acme", "--memory-pages", "4096").
		want(t, 1, "token of tenant[acme] cannot change limits: only the operator can (HTTP 403)")
	cli("", op, "tenant", "update", "acme", "--memory-pages", "4096").want(t, 0)
	// Every limit has a flag, named after its key; the server's bounds apply.
	cli("", op, "tenant", "update", "acme", "--max-instructions", "20000000", "--max-instances", "3", "--init-timeout", "3s").want(t, 0)
	r = cli("", op, "tenant", "get", "acme", "--json").want(t, 0)
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if l := got.Settings.Limits; l.MemoryPages != 4096 || l.MaxInstructions != 20_000_000 || l.MaxInstances != 3 || l.InitTimeout != 3*time.Second {
		t.Fatalf("limits after update %+v", l)
	}
	cli("", op, "tenant", "update", "acme", "--max-instructions", "5").
		want(t, 1, "limits.max_instructions[5]: want 0 (the default, 100000000) or 10000 to 10000000000")
	cli("", op, "tenant", "update", "acme", "--max-instances", "0").want(t, 0) // back to the server's default
	cli("", op, "tenant", "update", "acme", "--if-match", "1", "--keep-versions", "3").want(t, 1, "revision conflict", "(HTTP 412)")
	cli("", tok, "tenant", "get", "beta").want(t, 1, "token of tenant[acme] cannot access tenant[beta] (HTTP 403)")
	cli("", op, "tenant", "update", "acme").want(t, 2, "nothing to change")
	cli("", op, "tenant", "update", "acme", "--fail-open", "--err-code", "1").want(t, 2, "--err-code and --err-msg go with --fail-closed")

	r = cli("", tok, "tenant", "token", "acme").want(t, 0, "the old one no longer works")
	cli("", tok, "tenant", "get", "acme").want(t, 1, "invalid token (HTTP 401)")
	tok[3] = tokenRe.FindStringSubmatch(r.stdout)[1]
	cli("", tok, "tenant", "stats", "acme").want(t, 0, "no live statistics")

	cli("", tok, "tenant", "delete", "acme").want(t, 1, "(HTTP 403)")
	cli("", op, "tenant", "delete", "acme").want(t, 0, "deleted tenant acme")
	cli("", op, "tenant", "get", "acme").want(t, 1, "tenant[acme]: not found (HTTP 404)")
}

func TestCLIPlugins(t *testing.T) {
	t.Parallel()
	srv := admintest.Start(t, admin.Options{})
	r := imhook(t, "", "tenant", "create", "acme", "--admin-url", srv.URL, "--token", srv.OperatorToken).want(t, 0)
	tok := []string{"--admin-url", srv.URL, "--token", tokenRe.FindStringSubmatch(r.stdout)[1]}
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return imhook(t, stdin, append(append([]string{"plugin"}, args...), tok...)...)
	}
	stop, allow, fail := filepath.Join(fixtureDir, "stop.wasm"), filepath.Join(fixtureDir, "allow.wasm"), filepath.Join(fixtureDir, "fail.wasm")

	cli("", "list").want(t, 0, "tenant acme has no plugins")
	cli("", "push", "guard", stop).want(t, 0, "uploaded guard version 4c934dc220d5 (341 B, abi 1, inactive",
		"commands: callbackBeforeSendSingleMsgCommand", "cpu limit: instructions (_initialize used ", "input:     JSON\n")
	cli("", "push", "guard", allow, "--activate").want(t, 0, "(210 B, abi 1, active)")
	cli("", "push", "guard", allow).want(t, 0, "already had guard version")
	cli("", "push", "guard", filepath.Join(fixtureDir, "wrong_abi.wasm")).
		want(t, 1, "imhook_abi_version returned 2, this host supports abi version 1 (HTTP 422)")
	cli("", "push", "guard", filepath.Join(fixtureDir, "stop.wat")).want(t, 1, "invalid plugin module", "(HTTP 422)")

	r = cli("", "list").want(t, 0, "NAME", "guard")
	if !regexp.MustCompile(`guard\s+[0-9a-f]{12}\s+2\s+callbackBeforeSendSingleMsgCommand`).MatchString(r.stdout) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r = cli("", "list", "guard").want(t, 0, "VERSION")
	if !regexp.MustCompile(`(?m)^\*\s+[0-9a-f]{12}\s+210 B`).MatchString(r.stdout) {
		t.Fatalf("versions:\n%s", r.stdout)
	}

	cli("", "activate", "guard", "4c934dc220d5").want(t, 0, "guard active: version 4c934dc220d5")
	cli("", "test", "guard", "--command", "callbackBeforeSendSingleMsgCommand").
		want(t, 1, "bad callback") // empty stdin
	cli(singleMsg, "test", "guard", "--command", "callbackBeforeSendSingleMsgCommand").
		want(t, 0, `"errMsg":"blocked"`, "effect:   stop", "info  checked", "memory:   2 pages")
	cli("", "rollback", "guard").want(t, 0, "guard rolled back; active: version")
	cli("", "rollback", "guard").want(t, 1, "no earlier active version to roll back to", "(HTTP 404)")

	cli("", "push", "guard", fail).want(t, 0)
	r = cli(singleMsg, "test", "guard", "ed4b8b9aca56", "--command", "callbackBeforeSendSingleMsgCommand", "--json").want(t, 1)
	var dr admin.DryRun
	if err := json.Unmarshal([]byte(r.stdout), &dr); err != nil || dr.Error == nil || dr.Error.Kind != "guest_error" || !dr.PolicyApplied {
		t.Fatalf("dry run %s: %v", r.stdout, err)
	}

	cli("", "push", "audit", allow, "--activate").want(t, 0)
	cli("", "order", "audit", "guard").want(t, 0, "run order: audit, guard")
	cli("", "delete", "guard", "4c934dc220d5").want(t, 0, "deleted guard version 4c934dc220d5")
	cli("", "delete", "guard").want(t, 2, "give either a version or --all")
	cli("", "delete", "guard", "--all").want(t, 0, "deleted plugin guard")
	cli("", "list", "guard").want(t, 1, "tenant[acme] plugin[guard]: not found (HTTP 404)")

	// With the operator token the tenant must be named.
	op := []string{"--admin-url", srv.URL, "--token", srv.OperatorToken}
	imhook(t, "", append([]string{"plugin", "list"}, op...)...).want(t, 2, "which tenant?")
	imhook(t, "", append([]string{"plugin", "list", "--tenant", "acme"}, op...)...).want(t, 0, "audit")
}

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	// Nothing listens on this port: the test never reaches a server.
	const dead = "http://127.0.0.1:1"
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"tenant alone", []string{"tenant"}, 2, "Usage: imhook tenant <command>"},
		{"plugin help", []string{"plugin", "--help"}, 0, "push      upload a .wasm"},
		{"unknown verb", []string{"tenant", "frob"}, 2, `unknown command "frob"`},
		{"verb help", []string{"tenant", "create", "--help"}, 0, "Usage: imhook tenant create <id>"},
		{"missing argument", []string{"tenant", "get", "--token", "x"}, 2, "wrong number of arguments (0)"},
		{"extra argument", []string{"tenant", "get", "a", "b", "--token", "x"}, 2, "wrong number of arguments (2)"},
		{"unknown flag", []string{"tenant", "list", "--colour"}, 2, "unknown flag: --colour"},
		{"no token", []string{"tenant", "list", "--token", "", "--admin-url", dead}, 1, "no token: pass --token or set IMHOOK_TOKEN"},
		{"server down", []string{"tenant", "list", "--token", "x", "--admin-url", dead}, 1, "cannot reach the admin API at " + dead},
		{"test without command", []string{"plugin", "test", "p", "--token", "a.b"}, 2, "--command is required"},
		{"push missing file", []string{"plugin", "push", "p", "/nonexistent.wasm", "--token", "a.b"}, 2, "/nonexistent.wasm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			imhook(t, "", tc.args...).want(t, tc.code, tc.out)
		})
	}
}

// TestHelp asks every command for help: the usage goes to stdout, with exit
// 0, so `imhook x --help | less` works. Usage shown after a mistake goes to
// stderr with exit 2.
func TestHelp(t *testing.T) {
	t.Parallel()
	asks := [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"run", "-h"}, {"bench", "--help"},
		{"tenant", "--help"}, {"plugin", "help"}}
	for verb := range tenantCommands {
		asks = append(asks, []string{"tenant", verb, "--help"})
	}
	for verb := range pluginCommands {
		asks = append(asks, []string{"plugin", verb, "-h"})
	}
	for _, args := range asks {
		r := imhook(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage") || r.stderr != "" {
			t.Errorf("imhook %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 0 and the usage on stdout alone", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, args := range [][]string{{}, {"nope"}, {"tenant"}, {"plugin", "nope"}, {"tenant", "get"}, {"run"}, {"serve", "--bogus"}, {"tenant", "list", "--bogus"}} {
		r := imhook(t, "", args...)
		if r.code != 2 || r.stdout != "" || r.stderr == "" {
			t.Errorf("imhook %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2 and the complaint on stderr alone", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
}

// TestAdminURLWithoutScheme: a host:port where the admin URL belongs is bad
// usage with a fix, not an obscure URL parse error from the HTTP client.
func TestAdminURLWithoutScheme(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"127.0.0.1:8081", "localhost:8081", "imhook.internal"} {
		imhook(t, "", "tenant", "list", "--admin-url", u, "--token", "x").
			want(t, 2, "--admin-url["+u+"] has no scheme: write http://"+u)
	}
	imhook(t, "", "tenant", "list", "--admin-url", "ftp://h:1", "--token", "x").want(t, 2, "--admin-url[ftp://h:1]: want an http:// or https:// URL")
}

// TestServingStatus: after an activation the CLI says when the new version
// does not serve yet, and fails when it cannot load.
func TestServingStatus(t *testing.T) {
	t.Parallel()
	const active, old = "aaaaaaaaaaaa0000", "bbbbbbbbbbbb0000"
	for _, tc := range []struct {
		name    string
		serving *admin.Serving
		code    int
		stderr  string
	}{
		{"server does not say", nil, 0, ""},
		{"serving", &admin.Serving{Version: active}, 0, ""},
		{"still loading", &admin.Serving{Version: old, Loading: true}, 0,
			"imhook plugin activate: version aaaaaaaaaaaa is active, but version bbbbbbbbbbbb still serves while it loads; imhook tenant stats shows when it serves\n"},
		{"load failed", &admin.Serving{Version: old, LoadError: "out of memory"}, 1,
			"imhook plugin activate: version aaaaaaaaaaaa is active but failed to load, version bbbbbbbbbbbb keeps serving: out of memory\n"},
		{"load failed, nothing serves", &admin.Serving{LoadError: "trap"}, 1,
			"imhook plugin activate: version aaaaaaaaaaaa is active but failed to load, no version serves: trap\n"},
	} {
		var stderr bytes.Buffer
		c := &apiClient{stderr: &stderr}
		if code := c.servingStatus("plugin activate", active, tc.serving); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", tc.name, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
