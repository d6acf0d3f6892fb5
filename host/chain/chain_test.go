package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

// fake is a Plugin whose answer is a function of what it receives.
type fake struct {
	name   string
	wire   bool
	answer func(input string) (string, error) // "" means no reply
	calls  atomic.Int64
	inputs chan string // when set, receives each input
}

func (f *fake) Name() string   { return f.name }
func (f *fake) Tenant() string { return "t" }
func (f *fake) Info() plugins.ModuleInfo {
	return plugins.ModuleInfo{WireInput: f.wire}
}

func (f *fake) Call(_ context.Context, cmd string, body, dst []byte) ([]byte, plugins.CallInfo, error) {
	if f.wire {
		return nil, plugins.CallInfo{}, errors.New("JSON sent to a plugin that accepts the wire format")
	}
	return f.run(cmd, string(body), dst)
}

func (f *fake) CallWire(_ context.Context, cmd string, wire, dst []byte) ([]byte, plugins.CallInfo, error) {
	if !f.wire {
		return nil, plugins.CallInfo{}, errors.New("wire format sent to a JSON plugin")
	}
	c, _ := openim.Lookup(cmd)
	req := openim.NewRequest(c)
	if err := req.(interface{ DecodeWire([]byte) error }).DecodeWire(wire); err != nil {
		return nil, plugins.CallInfo{}, err
	}
	return f.run(cmd, string(req.AppendJSON(nil)), dst)
}

func (f *fake) run(cmd, input string, dst []byte) ([]byte, plugins.CallInfo, error) {
	f.calls.Add(1)
	if f.inputs != nil {
		f.inputs <- input
	}
	out, err := f.answer(input)
	info := plugins.CallInfo{Instructions: 100}
	if err != nil {
		return nil, info, &plugins.CallError{Kind: plugins.KindOf(err), Tenant: "t", Plugin: f.name, Command: cmd, Err: err}
	}
	if out == "" {
		return nil, info, nil
	}
	return append(dst, out...), info, nil
}

// hooks records the calls Run reports.
type hooks struct {
	mu       sync.Mutex
	called   []string // plugin: kind or "ok"
	replace  map[string]Plugin
	replaced int
}

func (h *hooks) Called(p Plugin, _ openim.Command, _ []byte, _ plugins.CallInfo, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	what := "ok"
	if err != nil {
		what = plugins.KindOf(err).String()
	}
	h.called = append(h.called, p.Name()+":"+what)
}

func (h *hooks) Replacement(closed Plugin, _ openim.Command) Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.replaced++
	if next, ok := h.replace[closed.Name()]; ok && next != closed {
		return next
	}
	return nil
}

const modify = `{"callbackCommand":"callbackBeforeMsgModifyCommand","sendID":"alice","recvID":"bob","content":"hello","contentType":101}`

func parse(t *testing.T, cmd, body string) (openim.Command, openim.Request) {
	t.Helper()
	req, err := openim.ParseRequest(cmd, []byte(body), openim.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return req.Command(), req
}

func neutral(string) (string, error) { return "", nil }

func replyWith(s string) func(string) (string, error) {
	return func(string) (string, error) { return s, nil }
}

func fails(kind error) func(string) (string, error) {
	return func(string) (string, error) { return "", kind }
}

var closed = registry.Policy{Closed: true, ErrCode: 5001, ErrMsg: "blocked"}

func TestBeforeChain(t *testing.T) {
	t.Parallel()
	t.Run("modifications carry forward and merge", func(t *testing.T) {
		second := &fake{name: "b", answer: replyWith(`{"actionCode":0,"nextCode":0,"ex":"tagged"}`), inputs: make(chan string, 1)}
		chain := []Plugin{&fake{name: "a", answer: replyWith(`{"actionCode":0,"nextCode":0,"content":"HELLO"}`)}, second}
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		h := &hooks{}
		out, res := Run(t.Context(), h, chain, cmd, req, []byte(modify), registry.Policy{}, nil)
		if res.Outcome != metrics.OutcomeOK || res.Err != nil {
			t.Fatalf("result %+v", res)
		}
		if in := <-second.inputs; !strings.Contains(in, `"content":"HELLO"`) {
			t.Errorf("the second plugin saw %s, without the first one's change", in)
		}
		var got map[string]any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if got["content"] != "HELLO" || got["ex"] != "tagged" || got["nextCode"] != 0.0 {
			t.Errorf("merged reply %s", out)
		}
		if fmt.Sprint(h.called) != "[a:ok b:ok]" {
			t.Errorf("hooks saw %v", h.called)
		}
	})
	t.Run("the first stop answers and ends the chain", func(t *testing.T) {
		after := &fake{name: "c", answer: neutral}
		chain := []Plugin{&fake{name: "a", answer: neutral}, &fake{name: "b", answer: replyWith(`{"actionCode":0,"errCode":7,"errMsg":"no","nextCode":1}`)}, after}
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		out, res := Run(t.Context(), &hooks{}, chain, cmd, req, []byte(modify), registry.Policy{}, nil)
		if res.Outcome != metrics.OutcomeStopped || res.Plugin != "b" || after.calls.Load() != 0 {
			t.Fatalf("result %+v, plugin after the stop called %d times", res, after.calls.Load())
		}
		if !strings.Contains(string(out), `"errCode":7`) || !strings.Contains(string(out), `"nextCode":1`) {
			t.Errorf("reply %s", out)
		}
	})
	t.Run("fail-open skips the failed plugin", func(t *testing.T) {
		chain := []Plugin{&fake{name: "a", answer: fails(plugins.ErrCPUTime)}, &fake{name: "b", answer: replyWith(`{"actionCode":0,"nextCode":0,"ex":"b ran"}`)}}
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		h := &hooks{}
		out, res := Run(t.Context(), h, chain, cmd, req, []byte(modify), registry.Policy{}, nil)
		if res.Outcome != metrics.OutcomePolicy || res.Plugin != "a" || !errors.Is(res.Err, plugins.ErrCPUTime) {
			t.Fatalf("result %+v", res)
		}
		if !strings.Contains(string(out), `"ex":"b ran"`) {
			t.Errorf("reply %s lost the second plugin", out)
		}
		if fmt.Sprint(h.called) != "[a:cpu_time b:ok]" {
			t.Errorf("hooks saw %v", h.called)
		}
	})
	t.Run("fail-closed answers the policy's stop at once", func(t *testing.T) {
		next := &fake{name: "b", answer: neutral}
		chain := []Plugin{&fake{name: "a", answer: fails(plugins.ErrMemoryLimit)}, next}
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		out, res := Run(t.Context(), &hooks{}, chain, cmd, req, []byte(modify), closed, nil)
		// The common fields lead; the command's modification fields follow as nulls.
		want := `{"actionCode":0,"errCode":5001,"errMsg":"blocked","errDlt":"imhook: memory","nextCode":1,`
		if !strings.HasPrefix(string(out), want) || res.Outcome != metrics.OutcomePolicy || next.calls.Load() != 0 {
			t.Fatalf("reply %s (want %s), result %+v, next called %d", out, want, res, next.calls.Load())
		}
	})
	t.Run("a reply OpenIM cannot decode is bad_reply", func(t *testing.T) {
		chain := []Plugin{&fake{name: "a", answer: replyWith(`{"actionCode":"zero"}`)}}
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		h := &hooks{}
		out, res := Run(t.Context(), h, chain, cmd, req, []byte(modify), closed, nil)
		if !errors.Is(res.Err, plugins.ErrBadReply) || !strings.Contains(string(out), `"errDlt":"imhook: bad_reply"`) {
			t.Fatalf("reply %s, result %+v", out, res)
		}
		if fmt.Sprint(h.called) != "[a:bad_reply]" {
			t.Errorf("hooks saw %v, want the bad reply reported once", h.called)
		}
	})
	t.Run("no plugin: the neutral reply", func(t *testing.T) {
		cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
		out, res := Run(t.Context(), &hooks{}, nil, cmd, req, []byte(modify), closed, nil)
		if res.Outcome != metrics.OutcomeNeutral || string(out) != string(openim.AppendNeutral(nil, cmd, req)) {
			t.Fatalf("reply %s, result %+v", out, res)
		}
	})
}

// TestAfterChain: every plugin runs on the original request and the reply
// is neutral, even when a plugin fails under a fail-closed policy (OpenIM
// ignores after-replies; a stop there would be a lie to anyone reading it).
func TestAfterChain(t *testing.T) {
	t.Parallel()
	body := `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"u","receiveID":"u","unreadMsgNum":3,"contentType":3}`
	second := &fake{name: "b", answer: replyWith(`{"actionCode":0,"nextCode":1}`), inputs: make(chan string, 1)}
	chain := []Plugin{&fake{name: "a", answer: fails(plugins.ErrTrap)}, second}
	cmd, req := parse(t, "callbackAfterGroupMsgReadCommand", body)
	out, res := Run(t.Context(), &hooks{}, chain, cmd, req, []byte(body), closed, nil)
	if string(out) != string(openim.AppendNeutral(nil, cmd, req)) {
		t.Errorf("after-reply %s, want the neutral one", out)
	}
	if res.Outcome != metrics.OutcomePolicy || !errors.Is(res.Err, plugins.ErrTrap) {
		t.Errorf("result %+v", res)
	}
	if in := <-second.inputs; in != body {
		t.Errorf("second plugin saw %s, want the original request", in)
	}
}

// TestHotSwapReplacement: a plugin closed by a swap is replaced by the
// current one; without a replacement the answer is neutral.
func TestHotSwapReplacement(t *testing.T) {
	t.Parallel()
	cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
	old := &fake{name: "p", answer: fails(plugins.ErrClosed)}
	cur := &fake{name: "p", answer: replyWith(`{"actionCode":0,"errCode":9,"nextCode":1}`)}
	h := &hooks{replace: map[string]Plugin{"p": cur}}
	out, res := Run(t.Context(), h, []Plugin{old}, cmd, req, []byte(modify), closed, nil)
	if res.Outcome != metrics.OutcomeStopped || !strings.Contains(string(out), `"errCode":9`) || h.replaced != 1 {
		t.Fatalf("reply %s, result %+v, replaced %d", out, res, h.replaced)
	}
	h = &hooks{}
	out, res = Run(t.Context(), h, []Plugin{old}, cmd, req, []byte(modify), closed, nil)
	if res.Outcome != metrics.OutcomeOK || res.Err != nil || string(out) != string(openim.AppendNeutral(nil, cmd, req)) {
		t.Fatalf("removed plugin: reply %s, result %+v", out, res)
	}
}

// TestWireInput: a plugin that accepts the wire format gets it; the others
// get the JSON body.
func TestWireInput(t *testing.T) {
	t.Parallel()
	cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
	w := &fake{name: "w", wire: true, answer: neutral, inputs: make(chan string, 1)}
	j := &fake{name: "j", answer: neutral, inputs: make(chan string, 1)}
	h := &hooks{}
	if _, res := Run(t.Context(), h, []Plugin{w, j}, cmd, req, []byte(modify), closed, nil); res.Err != nil {
		t.Fatal(res.Err)
	}
	if in := <-w.inputs; !strings.Contains(in, `"content":"hello"`) {
		t.Errorf("wire plugin decoded %s", in)
	}
	if in := <-j.inputs; in != modify {
		t.Errorf("JSON plugin got %s", in)
	}
}

func TestPolicyReply(t *testing.T) {
	t.Parallel()
	single := `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","recvID":"b","content":"hi","contentType":101}`
	cmd, req := parse(t, "callbackBeforeSendSingleMsgCommand", single)
	err := &plugins.CallError{Kind: plugins.KindCPUTime}
	for _, tc := range []struct {
		name   string
		policy registry.Policy
		err    error
		want   string
	}{
		{"fail-open", registry.Policy{}, err, string(openim.AppendNeutral(nil, cmd, req))},
		{"fail-closed", registry.Policy{Closed: true, ErrCode: 5001, ErrMsg: `blocked "now"`}, err,
			`{"actionCode":0,"errCode":5001,"errMsg":"blocked \"now\"","errDlt":"imhook: cpu_time","nextCode":1}`},
		{"fail-closed, foreign error", registry.Policy{Closed: true, ErrCode: 1}, errors.New("x"),
			`{"actionCode":0,"errCode":1,"errMsg":"","errDlt":"imhook: error","nextCode":1}`},
	} {
		if got := string(PolicyReply([]byte("> "), cmd, req, tc.policy, tc.err)); got != "> "+tc.want {
			t.Errorf("%s: got  %s\nwant > %s", tc.name, got, tc.want)
		}
	}
	body := `{"callbackCommand":"callbackBeforeSetGroupInfoCommand","operationID":"","groupID":"3917201845","groupName":"Project X v2","notification":"","introduction":"","faceURL":"","ex":"","needVerification":0,"lookMemberInfo":0,"applyMemberFriend":0}`
	gcmd, greq := parse(t, "callbackBeforeSetGroupInfoCommand", body)
	got := string(PolicyReply(nil, gcmd, greq, registry.Policy{}, err))
	if !strings.Contains(got, `"groupName":"Project X v2"`) || !strings.Contains(got, `"nextCode":0`) {
		t.Errorf("fail-open reply %s does not echo the group, which OpenIM would blank", got)
	}
}

// TestConcurrentRuns shares one chain between goroutines, as callbacks do;
// run with -race.
func TestConcurrentRuns(t *testing.T) {
	t.Parallel()
	chain := []Plugin{
		&fake{name: "a", answer: replyWith(`{"actionCode":0,"nextCode":0,"content":"x"}`)},
		&fake{name: "b", wire: true, answer: fails(plugins.ErrTrap)},
		&fake{name: "c", answer: replyWith(`{"actionCode":0,"nextCode":0,"ex":"y"}`)},
	}
	h := &hooks{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				cmd, req := parse(t, "callbackBeforeMsgModifyCommand", modify)
				out, res := Run(context.Background(), h, chain, cmd, req, []byte(modify), registry.Policy{}, nil)
				if res.Outcome != metrics.OutcomePolicy || !strings.Contains(string(out), `"content":"x"`) || !strings.Contains(string(out), `"ex":"y"`) {
					t.Errorf("reply %s, result %+v", out, res)
					return
				}
			}
		})
	}
	wg.Wait()
}
