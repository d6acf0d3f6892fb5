package plugins

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/imhook/imhook/sdk/openim"
)

// TestWireInput checks the negotiation of abi.InputWire: the host sends
// the wire format, with abi.WireFlag set, exactly to the guests that export
// imhook_input_formats with the bit, and JSON to every other guest.
func TestWireInput(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	tn := newTestTenant(t, e, SandboxOptions{ID: "acme", Limits: testLimits()})
	ctx := context.Background()
	req := &openim.BeforeAddFriendReq{CallbackCommand: openim.BeforeAddFriend.String(), FromUserID: "u1", ToUserID: "u2", ReqMsg: "hi"}
	body := req.AppendJSON(nil)

	t.Run("guest accepting the wire format", func(t *testing.T) {
		p := load(t, tn, "wire", wat(t, "wire_echo"))
		if !p.Info().WireInput {
			t.Fatal("Info().WireInput = false for a guest whose imhook_input_formats returns 1")
		}
		got, _, err := callRequest(ctx, p, req, body)
		if err != nil {
			t.Fatalf("callRequest: %v", err)
		}
		if want := req.AppendWire(nil); !bytes.Equal(got, want) {
			t.Fatalf("guest received %x, want the request's wire form %x", got, want)
		}
		// Call has only JSON and must not set the flag.
		if _, _, err := p.Call(ctx, openim.BeforeAddFriend.String(), body, nil); !errors.Is(err, ErrGuestError) || !bytes.Contains([]byte(err.Error()), []byte("json")) {
			t.Fatalf("Call with JSON: err = %v, want the guest's error \"json\" (no WireFlag)", err)
		}
	})

	t.Run("guest without the export", func(t *testing.T) {
		p := load(t, tn, "echo", wat(t, "echo"))
		if p.Info().WireInput {
			t.Fatal("Info().WireInput = true for a guest without imhook_input_formats")
		}
		seq := &openim.BeforeSendSingleMsgReq{CallbackCommand: openim.BeforeSendSingleMsg.String(), SendID: "alice", Content: `{"content":"hi"}`}
		json := seq.AppendJSON(nil)
		got, _, err := callRequest(ctx, p, seq, json)
		if err != nil || !bytes.Equal(got, json) {
			t.Fatalf("callRequest = %s, %v; want the JSON body echoed", got, err)
		}
	})

	t.Run("guest declaring only formats this host does not know", func(t *testing.T) {
		p := load(t, tn, "future", wat(t, "input_formats_future"))
		if p.Info().WireInput {
			t.Fatal("Info().WireInput = true for imhook_input_formats = 6 (no InputWire bit)")
		}
		got, _, err := callRequest(ctx, p, req, body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("callRequest = %s, %v; want the JSON body echoed, without WireFlag", got, err)
		}
	})

	t.Run("SDK guest answers the same either way", func(t *testing.T) {
		tn := newTestTenant(t, e, SandboxOptions{ID: "mod", Limits: sdkBenchLimits(), Config: map[string]string{"banned_words": "spam"}})
		p := load(t, tn, "moderation", goWasm(t, "../examples/moderation"))
		if !p.Info().WireInput {
			t.Fatal("Info().WireInput = false for a Go SDK guest")
		}
		for _, text := range []string{"hello there", "cheap SPAM here", ""} {
			req := &openim.BeforeSendSingleMsgReq{
				CallbackCommand: openim.BeforeSendSingleMsg.String(), SendID: "alice", RecvID: "bob",
				SessionType: 1, ContentType: 101, Content: `{"content":"` + text + `"}`, AtUserList: []string{"carol"},
			}
			json := req.AppendJSON(nil)
			viaJSON, _, err1 := p.Call(ctx, openim.BeforeSendSingleMsg.String(), json, nil)
			viaWire, info, err2 := callRequest(ctx, p, req, json)
			if err1 != nil || err2 != nil {
				t.Fatalf("%q: Call err %v, callRequest err %v", text, err1, err2)
			}
			if !bytes.Equal(viaJSON, viaWire) {
				t.Fatalf("%q: reply via JSON %s, via the wire format %s", text, viaJSON, viaWire)
			}
			if stopped := bytes.Contains(viaWire, []byte(`"nextCode":1`)); stopped != (text == "cheap SPAM here") {
				t.Fatalf("%q: reply %s, stopped = %v", text, viaWire, stopped)
			}
			if info.Instructions == 0 {
				t.Fatal("callRequest reported no instructions for a metered guest")
			}
		}
	})
}

// callRequest calls p as the host's chain does: in the wire format when the
// module accepts it, with the JSON body otherwise.
func callRequest(ctx context.Context, p *Plugin, req openim.Request, body []byte) ([]byte, CallInfo, error) {
	if p.Info().WireInput {
		return p.CallWire(ctx, req.Command().String(), req.AppendWire(nil), nil)
	}
	return p.Call(ctx, req.Command().String(), body, nil)
}
