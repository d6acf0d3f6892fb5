package baseline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/cmd/imhook/internal/baseline"
	"github.com/imhook/imhook/cmd/imhook/internal/loadgen"
	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/wasmbuild"
)

// moderationWasm is the moderation example, built once in TestMain.
var moderationWasm []byte

func TestMain(m *testing.M) {
	var err error
	moderationWasm, err = wasmbuild.Go(context.Background(), "github.com/imhook/imhook/examples/moderation", wasmbuild.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// serve runs h on a loopback port for the test and returns its base URL.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := baseline.NewServer(h)
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	return "http://" + ln.Addr().String()
}

// imhook runs a real imhook server with one tenant per entry of tenants
// (its configuration; a nil map gets no plugin, the others the moderation
// example) and returns its webhook base URL once every plugin serves.
func imhook(t *testing.T, tenants map[string]map[string]string) string {
	t.Helper()
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = filepath.Join(cfg.DataDir, "cache")
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = ""
	cfg.Sandbox.Limits.CallTimeout = time.Second // -race on a busy machine
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, nil)
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for id, conf := range tenants {
		if _, _, err := srv.Registry().CreateTenant(ctx, id, registry.Settings{Config: conf}); err != nil {
			t.Fatal(err)
		}
		if conf == nil {
			waitKnown(t, srv, id) // the live directory follows the registry in the background
			continue
		}
		hash, err := srv.Install(ctx, id, "moderation", moderationWasm)
		if err != nil {
			t.Fatal(err)
		}
		waitServing(t, srv, id, hash)
	}
	return "http://" + srv.Addr().String()
}

// waitKnown waits until the live directory has a tenant created without
// plugins, so its first callback is not an unknown tenant.
func waitKnown(t *testing.T, srv *host.Server, tenant string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, ok := srv.Directory().Stats(tenant); ok {
			return
		}
	}
	t.Fatalf("tenant[%s] not live after 60s", tenant)
}

func waitServing(t *testing.T, srv *host.Server, tenant, hash string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if st, ok := srv.Directory().Stats(tenant); ok {
			for _, p := range st.Plugins {
				if p.Serving == hash {
					return
				}
				if p.LoadError != "" {
					t.Fatalf("tenant[%s]: %s", tenant, p.LoadError)
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("tenant[%s] not serving after 60s", tenant)
}

// post sends a callback and returns the status and the decoded reply.
func post(t *testing.T, url, body string) (int, any) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	if err := fasthttp.DoTimeout(req, resp, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(resp.Body(), &v); err != nil {
		t.Fatalf("%s: reply %q: %v", url, resp.Body(), err)
	}
	return resp.StatusCode(), v
}

// callback is one request of the equivalence table.
type callback struct{ name, command, body string }

func mixCallbacks() []callback {
	var cs []callback
	for _, c := range loadgen.DefaultMix() {
		cs = append(cs, callback{c.Name, c.Command, string(c.Body)})
	}
	modify := func(name, content string) callback {
		b := loadgen.DefaultMix()[0].Body
		b = bytes.Replace(b, []byte("callbackBeforeSendSingleMsgCommand"), []byte("callbackBeforeMsgModifyCommand"), 1)
		b = bytes.Replace(b, []byte(`{\"content\":\"see you at the station at eight, bring the tickets\"}`), []byte(content), 1)
		return callback{name, "callbackBeforeMsgModifyCommand", string(b)}
	}
	return append(cs,
		modify("modify-banned", `{\"content\":\"Spam and more SPAM, no scam\"}`),
		modify("modify-clean", `{\"content\":\"all good\"}`),
		modify("modify-bad-content", `not json`),
		callback{"single-bad-content", "callbackBeforeSendSingleMsgCommand",
			strings.Replace(cs[0].body, `{\"content\":\"see you at the station at eight, bring the tickets\"}`, `[1,2]`, 1)},
		callback{"set-group-info-echoes", "callbackBeforeSetGroupInfoCommand",
			`{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"","groupID":"3917201845","groupName":"Project X v2","notification":"","introduction":"","faceURL":"","ex":"","needVerification":0,"lookMemberInfo":0,"applyMemberFriend":0}`},
	)
}

// TestModerationEquivalence sends the same callbacks to the moderation
// example running in a real imhook server and to its native twin, in both
// modes, and requires the same status and the same reply.
func TestModerationEquivalence(t *testing.T) {
	configs := map[string]map[string]string{
		"block":   {"banned_words": "spam, scam", "err_code": "30001", "err_msg": "not here"},
		"rewrite": {"banned_words": "spam,scam", "mode": "rewrite", "mask": "#"},
		"default": {"banned_words": loadgen.BannedWord},
	}
	base := imhook(t, configs)
	for tenant, conf := range configs {
		h, err := baseline.Moderation(conf)
		if err != nil {
			t.Fatal(err)
		}
		native := serve(t, h)
		for _, c := range mixCallbacks() {
			t.Run(tenant+"/"+c.name, func(t *testing.T) {
				path := "/hooks/" + tenant + "/" + c.command
				wantStatus, want := post(t, base+path, c.body)
				gotStatus, got := post(t, native+path, c.body)
				if gotStatus != wantStatus || !reflect.DeepEqual(got, want) {
					t.Errorf("native: %d %v\nimhook: %d %v", gotStatus, got, wantStatus, want)
				}
			})
		}
	}
}

// TestNeutralEquivalence compares the neutral handler with imhook serving a
// tenant that has no plugin.
func TestNeutralEquivalence(t *testing.T) {
	base := imhook(t, map[string]map[string]string{"none": nil})
	native := serve(t, baseline.Neutral())
	for _, c := range mixCallbacks() {
		t.Run(c.name, func(t *testing.T) {
			path := "/hooks/none/" + c.command
			wantStatus, want := post(t, base+path, c.body)
			gotStatus, got := post(t, native+path, c.body)
			if gotStatus != wantStatus || !reflect.DeepEqual(got, want) {
				t.Errorf("native: %d %v\nimhook: %d %v", gotStatus, got, wantStatus, want)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	if _, err := baseline.Moderation(map[string]string{"mode": "delete", "mask": "##"}); err == nil ||
		err.Error() != "baseline: config[mode]: want \"block\" or \"rewrite\", got \"delete\"\nbaseline: config[mask]: want one character, got \"##\"" {
		t.Errorf("bad config: %v", err)
	}
	h, err := baseline.Moderation(nil)
	if err != nil {
		t.Fatal(err)
	}
	native := serve(t, h)
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"unknown path", "/other", "{}", 404},
		{"no command", "/hooks/acme", "{}", 404},
		{"unknown command", "/hooks/acme/callbackNope", "{}", 404},
		{"malformed body", "/hooks/acme/callbackBeforeAddFriendCommand", "{", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, v := post(t, native+tc.path, tc.body)
			if status != tc.status || v.(map[string]any)["nextCode"] != 1.0 {
				t.Errorf("status %d reply %v, want %d and a stop reply", status, v, tc.status)
			}
		})
	}
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// TestNoopPlugin loads the embedded no-op plugin into the sandbox: it must
// declare the same commands as examples/trivial and answer them with no
// reply.
func TestNoopPlugin(t *testing.T) {
	t.Parallel()
	eng, err := plugins.NewEngine(context.Background(), plugins.EngineOptions{Commands: openim.CommandName})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.Background())
	tn, err := eng.NewSandbox(plugins.SandboxOptions{ID: "noop", Limits: limits.Default()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tn.Load(context.Background(), "noop", baseline.NoopPlugin)
	if err != nil {
		t.Fatalf("load the no-op plugin: %v", err)
	}
	want := []string{"callbackAfterGroupMsgReadCommand", "callbackBeforeSendSingleMsgCommand", "callbackBeforeSendGroupMsgCommand", "callbackBeforeAddFriendCommand"}
	if got := p.Commands(); !slices.Equal(got, want) {
		t.Fatalf("commands %q, want examples/trivial's %q", got, want)
	}
	for _, cmd := range want {
		reply, _, err := p.Call(context.Background(), cmd, []byte(`{"callbackCommand":"`+cmd+`"}`), nil)
		if err != nil || reply != nil {
			t.Fatalf("%s: reply %q, err %v; want no reply", cmd, reply, err)
		}
	}
}
