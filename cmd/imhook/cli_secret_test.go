package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestCLISecrets: set from stdin and from the environment, list names,
// delete; no output ever holds a value.
func TestCLISecrets(t *testing.T) {
	const value, envValue = "sk-live-0a1b2c3d4e5f", "from-env-9z8y7x6w"
	t.Setenv("IMHOOK_TEST_SECRET", envValue)
	srv := admintest.Start(t, admin.Options{})
	op := []string{"--admin-url", srv.URL, "--token", srv.OperatorToken}
	var outputs []string
	cli := func(stdin string, args ...string) result {
		t.Helper()
		r := imhook(t, stdin, append(args, op...)...)
		outputs = append(outputs, r.stdout, r.stderr)
		return r
	}
	cli("", "tenant", "create", "acme").want(t, 0)
	cli(value+"\n", "secret", "set", "acme", "api_key").want(t, 0, "secret api_key of tenant acme set")
	cli("", "secret", "set", "acme", "env_key", "--from-env", "IMHOOK_TEST_SECRET").want(t, 0, "secret env_key of tenant acme set")
	cli("", "secret", "set", "acme", "empty").want(t, 2, "the value is empty")
	cli("", "secret", "set", "acme", "x", "--from-env", "IMHOOK_TEST_UNSET_VAR").want(t, 2, "not set")
	cli("v", "secret", "set", "acme", "bad name").want(t, 1, "secret name")
	r := cli("", "secret", "list", "acme").want(t, 0, "api_key", "env_key")
	if r.stdout != "api_key\nenv_key\n" {
		t.Fatalf("list: %q", r.stdout)
	}
	cli("", "secret", "list", "acme", "--json").want(t, 0, `"names":["api_key","env_key"]`)
	cli("", "tenant", "get", "acme", "--json").want(t, 0)
	cli("", "secret", "delete", "acme", "env_key").want(t, 0, "deleted secret env_key of tenant acme")
	cli("", "secret", "delete", "acme", "env_key").want(t, 1, "not found")
	cli("", "tenant", "update", "acme", "--grants", "http", "--egress-allow", "https://api.acme.example").want(t, 0)
	cli("", "tenant", "update", "acme", "--egress-allow", "https://api.acme.example/path").want(t, 1, "egress_allow[0]", "no path")
	cli("", "tenant", "get", "acme").want(t, 0, "https://api.acme.example")
	all := strings.Join(outputs, "\n")
	if strings.Contains(all, value) || strings.Contains(all, envValue) {
		t.Fatalf("a secret value was printed:\n%s", all)
	}
}

// TestRunOutCall: imhook run sends readforward's out-call to a loopback
// sink with --egress-allow, --allow-network and --secret-env, and reports it;
// without --allow-network the operator's default policy refuses loopback.
func TestRunOutCall(t *testing.T) {
	if testing.Short() || !goGuestUnderRace {
		t.Skip("builds and compiles a Go wasm guest: skipped with -short and -race")
	}
	var mu sync.Mutex
	var auth []string
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer sink.Close()
	t.Setenv("IMHOOK_TEST_TOKEN", "t0k3n-abcdef")
	wasm := filepath.Join(t.TempDir(), "readforward.wasm")
	if _, err := wasmbuild.Go(t.Context(), "./examples/readforward", wasmbuild.Options{Dir: filepath.Join("..", ".."), Output: wasm}); err != nil {
		t.Fatalf("build the example: %v", err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}`
	args := []string{"run", wasm, "--command", "callbackAfterGroupMsgReadCommand", "--cache-dir", cache, "--call-timeout", "5s",
		"--grants", "http,kv", "--kv-memory", "--egress-allow", sink.URL, "--config", "service_url=" + sink.URL + "/read",
		"--config", "token_secret=svc", "--secret-env", "svc=IMHOOK_TEST_TOKEN"}
	r := imhook(t, body, append(args, "--allow-network", "127.0.0.0/8")...).want(t, 0, "out-calls: 1")
	mu.Lock()
	if len(auth) != 1 || auth[0] != "Bearer t0k3n-abcdef" {
		t.Fatalf("the sink got %q", auth)
	}
	mu.Unlock()
	if strings.Contains(r.stdout+r.stderr, "t0k3n-abcdef") {
		t.Fatalf("the secret was printed:\n%s%s", r.stdout, r.stderr)
	}
	imhook(t, body, args...).want(t, 1, "loopback", "egress.allow_networks")
}
