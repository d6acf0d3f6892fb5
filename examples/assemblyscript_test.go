package examples_test

// The AssemblyScript examples and SDK (sdk/assemblyscript,
// docs/sdk-assemblyscript.md), built from source with the SDK's build script
// (node, npm ci at the repository root) and run the way imhook runs them:
// through a real server over loopback HTTP, and through the raw ABI in
// wazero. The moderation-as plugin must answer exactly as the Go moderation
// plugin does.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/internal/syncbuf"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// repoRoot is the repository's root, where package.json and node_modules are.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var asBuilds sync.Map // entry -> *asBuild

type asBuild struct {
	once sync.Once
	wasm []byte
	err  error
}

// builtAS returns the module the SDK's build script (imhook-asc) makes of an
// AssemblyScript entry file (relative to the repository root), built once per
// test binary. Without node it skips, except in CI (CI set), where the
// AssemblyScript tests must run.
func builtAS(t testing.TB, entry string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds wasm with the AssemblyScript compiler; skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node is not installed, and CI must run the AssemblyScript tests: .ci/run installs nodejs and npm")
		}
		t.Skip("node is not installed: the AssemblyScript plugins are not built or tested (install nodejs and npm, then run npm ci in the repository root)")
	}
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "node_modules", "assemblyscript", "package.json")); err != nil {
		t.Fatalf("the AssemblyScript compiler is not installed: run npm ci in %s (it installs package-lock.json's assemblyscript)", root)
	}
	v, _ := asBuilds.LoadOrStore(entry, &asBuild{})
	b := v.(*asBuild)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "imhook-as-")
		if err != nil {
			b.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "plugin.wasm")
		cmd := exec.Command(node, "sdk/assemblyscript/js/build.js", entry, "-o", out)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("cd %s && node sdk/assemblyscript/js/build.js %s -o %s: %v\n%s", root, entry, out, err, msg)
			return
		}
		b.wasm, b.err = os.ReadFile(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.wasm
}

const (
	moderationAS = "examples/moderation-as/assembly/index.ts"
	sdkAllGuest  = "sdk/assemblyscript/test/guest/zall.ts"
	sdkConverter = "sdk/assemblyscript/assembly/jsonwire.ts"
	sdkHostGuest = "sdk/assemblyscript/test/guest/hostfuncs.ts"
)

// ---- a real server ----

// server is one imhook server on loopback ports with its own store.
type server struct {
	t    testing.TB
	srv  *host.Server
	base string
	logs *syncbuf.Buffer
}

// startServer runs imhook (host.New, default configuration changed by
// configure) on loopback with a fresh store and JSON logs kept in memory.
func startServer(t testing.TB, configure ...func(*host.Config)) *server {
	t.Helper()
	cfg := host.Default()
	cfg.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = filepath.Join(cfg.DataDir, "cache")
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Sandbox.Limits.CallTimeout = time.Second // a busy machine, -race
	for _, f := range configure {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, stop := context.WithCancel(context.Background())
	srv, err := host.New(ctx, cfg, logger)
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
	for deadline := time.Now().Add(30 * time.Second); !srv.Directory().Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("directory not ready after 30s")
		}
	}
	return &server{t: t, srv: srv, base: "http://" + srv.Addr().String(), logs: logs}
}

// tenant creates a tenant running wasm as its plugin "p" and returns the
// tenant's token and the plugin version, once the webhook path serves it.
func (s *server) tenant(id string, settings registry.Settings, wasm []byte) (token, version string) {
	s.t.Helper()
	ctx := context.Background()
	_, token, err := s.srv.Registry().CreateTenant(ctx, id, settings)
	if err != nil {
		s.t.Fatal(err)
	}
	version, err = s.srv.Install(ctx, id, "p", wasm)
	if err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if st, ok := s.srv.Directory().Stats(id); ok {
			for _, p := range st.Plugins {
				if p.Name == "p" && p.Serving == version {
					return token, version
				}
				if p.Name == "p" && p.LoadError != "" && p.Active == version {
					s.t.Fatalf("tenant[%s]: %s", id, p.LoadError)
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("tenant[%s] not serving after 60s", id)
		}
	}
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// post sends a callback the way OpenIM does and returns the status and body.
func (s *server) post(tenant, command, body string) (int, string) {
	s.t.Helper()
	resp, err := httpClient.Post(s.base+"/hooks/"+tenant+"/"+command, "application/json; charset=utf-8", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// dryRun is the admin API's test call of a version (docs/admin-api.md, "Dry
// run"): the reply, the error and the logs of one call with JSON input.
type dryRun struct {
	Reply json.RawMessage `json:"reply"`
	Error *struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	} `json:"error"`
	Logs []struct {
		Level   string            `json:"level"`
		Message string            `json:"message"`
		Attrs   map[string]string `json:"attrs"`
	} `json:"logs"`
}

func (s *server) dryRun(tenant, token, version, command, body string) dryRun {
	s.t.Helper()
	url := "http://" + s.srv.AdminAddr().String() + "/v1/tenants/" + tenant + "/plugins/p/versions/" + version + "/test?command=" + command
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tenant+admin.TokenSeparator+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("dry run %s: %d %s", command, resp.StatusCode, b)
	}
	var r dryRun
	if err := json.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("dry run reply %s: %v", b, err)
	}
	return r
}

// ---- the callbacks compared ----

// benchMix is the callback mix of imhook bench --compare
// (cmd/imhook/internal/loadgen.DefaultMix, which this package cannot import):
// the same commands and bodies, so that the AssemblyScript variant of the
// benchmark is known to answer as the Go plugin does.
func benchMix() [][2]string {
	msg := func(command string, sessionType, contentType int, text, peer string) string {
		content := `{\"content\":\"` + text + `\"}`
		if contentType == 102 {
			content = `{\"sourcePicture\":{\"url\":\"https://example.com/p.jpg\",\"width\":640,\"height\":480}}`
		}
		return fmt.Sprintf(`{"sendID":"user_a","callbackCommand":"%s","serverMsgID":"a3f1c9e2b7d84e0f9c1a2b3c4d5e6f70",`+
			`"clientMsgID":"5e8a2d1f0c9b4a7e8d6c5b4a39281706","operationID":"1719812345678-abcd-op","senderPlatformID":1,`+
			`"senderNickname":"Alice","sessionType":%d,"msgFrom":100,"contentType":%d,"status":1,"sendTime":1719812345678,`+
			`"createTime":1719812345600,"content":"%s","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"",%s}`,
			command, sessionType, contentType, content, peer)
	}
	single, group := "callbackBeforeSendSingleMsgCommand", "callbackBeforeSendGroupMsgCommand"
	return [][2]string{
		{single, msg(single, 1, 101, "see you at the station at eight, bring the tickets", `"recvID":"user_b"`)},
		{single, msg(single, 1, 101, "cheap SPAM offer, click now", `"recvID":"user_b"`)},
		{group, msg(group, 3, 101, "the meeting moved to room 4, same time", `"groupID":"3917201845"`)},
		{group, msg(group, 3, 101, "win money: reply spam to join", `"groupID":"3917201845"`)},
		{single, msg(single, 1, 102, "", `"recvID":"user_b"`)},
		{"callbackAfterGroupMsgReadCommand", `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}`},
		{"callbackBeforeAddFriendCommand", `{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"user_a","toUserID":"user_b","reqMsg":"Hi, I'm Alice","ex":""}`},
		{"callbackAfterSendGroupMsgCommand", msg("callbackAfterSendGroupMsgCommand", 3, 101, "the meeting moved to room 4, same time", `"groupID":"3917201845"`)},
	}
}

// moderationCases are the callbacks of examples/moderation's own tests
// (TestModeration), as JSON bodies, with a few more edge cases.
func moderationCases() [][2]string {
	single := func(contentType int32, content string) [2]string {
		req := &openim.BeforeSendSingleMsgReq{RecvID: "user_b"}
		req.CallbackCommand = openim.BeforeSendSingleMsg.String()
		req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 1
		return [2]string{openim.BeforeSendSingleMsg.String(), string(req.AppendJSON(nil))}
	}
	group := func(contentType int32, content string) [2]string {
		req := &openim.BeforeSendGroupMsgReq{GroupID: "3917201845"}
		req.CallbackCommand = openim.BeforeSendGroupMsg.String()
		req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 3
		return [2]string{openim.BeforeSendGroupMsg.String(), string(req.AppendJSON(nil))}
	}
	modify := func(contentType int32, content string) [2]string {
		req := &openim.BeforeMsgModifyReq{}
		req.CallbackCommand = openim.BeforeMsgModify.String()
		req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 1
		return [2]string{openim.BeforeMsgModify.String(), string(req.AppendJSON(nil))}
	}
	text := func(s string) string {
		b, _ := json.Marshal(map[string]string{"content": s})
		return string(b)
	}
	var out [][2]string
	for _, c := range []string{
		"buy SPAM now", "a scam!", "hello", "kein ärger", "Spam and scams", "xabcdx", "\"spam\" <b>\n", "spam!",
		"Ünïcödé SPÄM spam", "ǅemal ΣΑΣ σας", "İstanbul ıi", "\u212a kelvin KELVIN", "emoji 😀 spam 😀", "", "   ",
	} {
		out = append(out, single(101, text(c)), group(101, text(c)), modify(101, text(c)))
	}
	out = append(out,
		single(102, `{"sourcePicture":{"url":"spam.png"}}`),
		single(101, `hello`), group(101, `{"content":1}`), modify(101, `{"Content":"SPAM","x":[1,{"y":null}],"content":"spam again"}`),
		single(101, `{"content":"spam"} trailing`), group(101, `{"text":"spam"}`), modify(101, `{"content":"a\u00e9\ud83d\ude00 spam \u0000"}`),
		modify(101, `{"content":"bad \x escape"}`), single(101, `{"content":"spam`),
	)
	return out
}

// configs are the tenant configurations the two plugins are compared under.
var configs = []map[string]string{
	{"banned_words": "spam"},
	{"banned_words": "spam, Scam ,,"},
	{"banned_words": "spam,scam,sc", "mode": "rewrite"},
	{"banned_words": "ab,bcd,spam", "mode": "rewrite", "mask": "♥"},
	{"banned_words": "ÄRGER,spÄm,σας,ǆ,k", "mode": "rewrite"},
	{"banned_words": "ÄRGER,spÄm,σας,İ", "err_code": "30001", "err_msg": "no spam here"},
	{"banned_words": "spam", "err_msg": ""},
	{},
	{"banned_words": "spam", "mode": "delete"},
	{"banned_words": "spam", "err_code": "x"},
	{"banned_words": "spam", "err_code": "0"},
	{"banned_words": "spam", "err_code": "+2147483647"},
	{"banned_words": "spam", "mode": "rewrite", "mask": "**"},
	{"banned_words": "spam", "mode": "rewrite", "mask": "😀"},
}

// dryConfigs are the configurations whose every callback is also compared
// through the dry run.
var dryConfigs = []int{0, 3, 4, 5}

// TestModerationASMatchesGo runs examples/moderation and
// examples/moderation-as side by side in one real server, a tenant for each
// plugin and configuration, and requires the same answer to every callback
// of the benchmark mix and of the moderation tests: over the webhook path
// (the wire format, byte for byte, failures made visible by a fail-closed
// policy), and through the admin API's dry run (JSON input: reply, error
// message and log lines).
func TestModerationASMatchesGo(t *testing.T) {
	asWasm := builtAS(t, moderationAS)
	goWasm := built(t, "moderation")
	s := startServer(t)
	callbacks := append(benchMix(), moderationCases()...)
	failClosed := registry.Policy{Closed: true, ErrCode: 777, ErrMsg: "plugin failed"}
	for i, cfg := range configs {
		t.Run(fmt.Sprintf("config%d", i), func(t *testing.T) {
			s.t = t
			set := registry.Settings{Config: cfg, Failure: failClosed}
			goID, asID := fmt.Sprintf("go%d", i), fmt.Sprintf("as%d", i)
			goTok, goVer := s.tenant(goID, set, goWasm)
			asTok, asVer := s.tenant(asID, set, asWasm)
			for _, cb := range callbacks {
				gs, gb := s.post(goID, cb[0], cb[1])
				as, ab := s.post(asID, cb[0], cb[1])
				if gs != as || gb != ab {
					t.Errorf("config %v, %s %s:\n go %d %s\n as %d %s", cfg, cb[0], cb[1], gs, gb, as, ab)
				}
				if !slices.Contains(moderated, cb[0]) || !strings.Contains(gb, "imhook: ") && !slices.Contains(dryConfigs, i) {
					// The dry run refuses a command the plugin does not handle. It
					// loads a sandbox per call, so it runs where the webhook
					// reply was a failure (to compare the messages), and for a
					// few configurations (to compare logs).
					continue
				}
				gd := s.dryRun(goID, goTok, goVer, cb[0], cb[1])
				ad := s.dryRun(asID, asTok, asVer, cb[0], cb[1])
				// The messages name the tenant, which differs: compare what the guest said.
				if ge, ae := errString(gd, goID), errString(ad, asID); ge != ae {
					t.Errorf("config %v, %s %s: dry run error\n go %s\n as %s", cfg, cb[0], cb[1], ge, ae)
				}
				if !bytes.Equal(gd.Reply, ad.Reply) || fmt.Sprint(gd.Logs) != fmt.Sprint(ad.Logs) {
					t.Errorf("config %v, %s %s: dry run\n go %s %v\n as %s %v", cfg, cb[0], cb[1], gd.Reply, gd.Logs, ad.Reply, ad.Logs)
				}
			}
		})
	}
}

// moderated are the commands the moderation plugins handle.
var moderated = []string{"callbackBeforeSendSingleMsgCommand", "callbackBeforeSendGroupMsgCommand", "callbackBeforeMsgModifyCommand"}

// errString is a dry run's error with the tenant's name taken out.
func errString(d dryRun, tenant string) string {
	if d.Error == nil {
		return "none"
	}
	return d.Error.Kind + ": " + strings.ReplaceAll(d.Error.Message, "tenant["+tenant+"]", "tenant[...]")
}

// TestModerationASEveryCommand sends the catalog's example of every command
// to a tenant running moderation-as, as host's TestEveryCommand does for the
// Go examples: every reply must be a 200 that OpenIM decodes, and the same as
// the Go moderation plugin's.
func TestModerationASEveryCommand(t *testing.T) {
	asWasm := builtAS(t, moderationAS)
	goWasm := built(t, "moderation")
	s := startServer(t)
	set := registry.Settings{Config: map[string]string{"banned_words": "hello,spam"}}
	s.tenant("as", set, asWasm)
	s.tenant("go", set, goWasm)
	for _, c := range catalogExamples(t) {
		as, ab := s.post("as", c.Command, string(c.Example))
		gs, gb := s.post("go", c.Command, string(c.Example))
		var reply struct {
			ActionCode, ErrCode, NextCode int32
			ErrMsg, ErrDlt                string
		}
		if as != http.StatusOK || json.Unmarshal([]byte(ab), &reply) != nil || !strings.HasSuffix(ab, "}\n") {
			t.Errorf("%s: %d %q is not an OpenIM reply", c.Command, as, ab)
		}
		if as != gs || ab != gb {
			t.Errorf("%s: as %d %s, go %d %s", c.Command, as, ab, gs, gb)
		}
	}
}

type catalogExample struct {
	Command string          `json:"command"`
	Phase   string          `json:"phase"`
	Example json.RawMessage `json:"example"`
}

// catalogExamples are the catalog's example bodies, compacted as OpenIM sends them.
func catalogExamples(t testing.TB) []catalogExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sdk", "openim", "internal", "gen", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat []catalogExample
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	for i := range cat {
		var buf bytes.Buffer
		if err := json.Compact(&buf, cat[i].Example); err != nil {
			t.Fatal(err)
		}
		cat[i].Example = buf.Bytes()
	}
	return cat
}

// ---- the SDK's protocol, every command, through the raw ABI ----

// callWire is call with the request in the wire format, as imhook sends it.
func (g *guest) callWire(command string, wire []byte) abi.Result {
	g.t.Helper()
	n := uint64(len(command) + len(wire))
	g.stack[0] = n
	if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v", abi.FuncBuffer, err)
	}
	buf := abi.Unpack(g.stack[0])
	if !g.mod.Memory().WriteString(buf.Ptr, command) || !g.mod.Memory().Write(buf.Ptr+uint32(len(command)), wire) {
		g.t.Fatalf("buffer %+v outside guest memory", buf)
	}
	g.stack[0], g.stack[1] = uint64(len(command))|uint64(abi.WireFlag), uint64(len(wire))
	if err := g.handle.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s(%s): %v\nlogs: %q", abi.FuncHandle, command, err, g.logs)
	}
	return abi.Unpack(g.stack[0])
}

// callJSON hands the guest a JSON body without the wire flag, which imhook
// never does to a module taking the wire format.
func (g *guest) callJSON(command, body string) abi.Result {
	g.t.Helper()
	g.stack[0] = uint64(len(command) + len(body))
	if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s: %v\nlogs: %q", abi.FuncBuffer, err, g.logs)
	}
	buf := abi.Unpack(g.stack[0])
	if !g.mod.Memory().WriteString(buf.Ptr, command+body) {
		g.t.Fatalf("buffer %+v outside guest memory", buf)
	}
	g.stack[0], g.stack[1] = uint64(len(command)), uint64(len(body))
	if err := g.handle.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatalf("%s(%s): %v\nlogs: %q", abi.FuncHandle, command, err, g.logs)
	}
	return abi.Unpack(g.stack[0])
}

// toWire converts a JSON body with the harness's converter module
// (sdk/assemblyscript/assembly/jsonwire.ts), as the node harness does.
func (g *guest) toWire(command, body string) []byte {
	g.t.Helper()
	g.stack[0] = uint64(len(command) + len(body))
	if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
		g.t.Fatal(err)
	}
	buf := abi.Unpack(g.stack[0])
	g.mod.Memory().WriteString(buf.Ptr, command+body)
	res := abi.Unpack(g.callU64("jsonwire_convert", uint64(len(command)), uint64(len(body))))
	if res.Error {
		g.t.Fatalf("%s: the converter refused %s: %s", command, body, g.read(res))
	}
	return []byte(g.read(res))
}

// TestASEveryCommandDecodes runs the SDK's test guest, which handles every
// command by logging its request re-encoded as JSON and returning the
// command's continue reply, on the catalog's example of each command in the
// wire format, as Go encodes it and as the node harness's converter turns
// the JSON body into it: the request it sees must be the one Go decodes
// (compared through Go's encoding of it), and its reply the Go SDK's
// neutral reply for the command.
func TestASEveryCommandDecodes(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	cm, err := r.CompileModule(context.Background(), builtAS(t, sdkAllGuest))
	if err != nil {
		t.Fatal(err)
	}
	g := instantiate(t, r, cm, nil)
	cmConv, err := r.CompileModule(context.Background(), builtAS(t, sdkConverter))
	if err != nil {
		t.Fatal(err)
	}
	conv := instantiate(t, r, cmConv, nil)
	if got := g.callU64(abi.FuncInputFormats); got != uint64(abi.InputWire) {
		t.Fatalf("%s = %d, want %d", abi.FuncInputFormats, got, abi.InputWire)
	}
	cmds := strings.Split(g.read(abi.Unpack(g.callU64(abi.FuncCommands))), ",")
	cat := catalogExamples(t)
	if len(cmds) != len(cat) || len(cat) != 52 {
		t.Fatalf("the guest handles %d commands, the catalog has %d, want 52", len(cmds), len(cat))
	}
	for _, c := range cat {
		cmd, ok := openim.Lookup(c.Command)
		if !ok || !slices.Contains(cmds, c.Command) {
			t.Fatalf("%s: not a command, or not handled by the guest", c.Command)
		}
		req, err := openim.ParseRequest(c.Command, c.Example, openim.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.Command, err)
		}
		want := string(req.AppendJSON(nil))
		wantReply := string(openim.Neutral(cmd, req).AppendJSON(nil))
		for _, format := range []string{"json", "wire"} {
			g.t, g.logs = t, nil
			var res abi.Result
			if format == "json" {
				conv.t = t
				res = g.callWire(c.Command, conv.toWire(c.Command, string(c.Example)))
			} else {
				res = g.callWire(c.Command, req.AppendWire(nil))
			}
			if res.Error || res.Empty() {
				t.Errorf("%s (%s): result %+v %q, want a reply", c.Command, format, res, g.read(res))
				continue
			}
			if got := g.read(res); got != wantReply {
				t.Errorf("%s (%s): reply\n got  %s\n want %s", c.Command, format, got, wantReply)
			}
			if len(g.logs) != 1 || g.logs[0] != "info "+want {
				t.Errorf("%s (%s): the guest decoded\n %q\nwant\n %q", c.Command, format, g.logs, "info "+want)
			}
		}
	}
}

// TestASWireOutOfRange hands the SDK a wire-format request whose slots point
// past its end (which imhook never sends): the read must not wander into
// other memory; the call traps with the reason logged.
func TestASWireOutOfRange(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	cm, err := r.CompileModule(context.Background(), builtAS(t, sdkAllGuest))
	if err != nil {
		t.Fatal(err)
	}
	cmd := openim.BeforeAddFriend.String()
	wire := (&openim.BeforeAddFriendReq{CallbackCommand: cmd, FromUserID: "alice", ToUserID: "bob"}).AppendWire(nil)
	for _, tc := range []struct {
		name string
		wire []byte
		want string
	}{
		{"strings cut off", wire[:5*8], "error plugin aborted: wire: string outside the request"},
		{"table cut off", wire[:3*8], "error plugin aborted: wire: table outside the request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := instantiate(t, r, cm, nil)
			g.stack[0] = uint64(len(cmd) + len(tc.wire))
			if err := g.buffer.CallWithStack(g.ctx, g.stack); err != nil {
				t.Fatal(err)
			}
			buf := abi.Unpack(g.stack[0])
			g.mod.Memory().WriteString(buf.Ptr, cmd)
			g.mod.Memory().Write(buf.Ptr+uint32(len(cmd)), tc.wire)
			g.stack[0], g.stack[1] = uint64(len(cmd))|uint64(abi.WireFlag), uint64(len(tc.wire))
			err := g.handle.CallWithStack(g.ctx, g.stack)
			if err == nil || len(g.logs) == 0 || !strings.HasPrefix(g.logs[len(g.logs)-1], tc.want) {
				t.Fatalf("err %v, logs %q; want a trap after %q", err, g.logs, tc.want)
			}
		})
	}
}

// TestASRefusesJSON: a plugin built with the SDK takes the wire format only
// (imhook sends it on every path); a JSON body fails the call with a
// message that says so, it does not trap.
func TestASRefusesJSON(t *testing.T) {
	r := newRuntime(t, wazero.NewRuntimeConfigInterpreter())
	cm, err := r.CompileModule(context.Background(), builtAS(t, moderationAS))
	if err != nil {
		t.Fatal(err)
	}
	g := instantiate(t, r, cm, nil)
	cmd := openim.BeforeSendSingleMsg.String()
	res := g.callJSON(cmd, `{"contentType":101,"content":"{\"content\":\"hi\"}"}`)
	if msg := g.read(res); !res.Error || !strings.Contains(msg, "the request is JSON, and this plugin takes the wire format only") {
		t.Fatalf("result %+v %q, want an error saying the plugin takes the wire format", res, msg)
	}
}
