//go:build !wasip1

package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// useHandlers empties the registry for one test and restores it afterwards.
// Tests that call it must not run in parallel with each other.
func useHandlers(t *testing.T) {
	t.Helper()
	saved := handlers
	handlers = nil
	t.Cleanup(func() { handlers = saved })
}

// logSink records log lines of a native Host.
type logSink struct{ lines []string }

func (s *logSink) host(config map[string]string) *Host {
	return &Host{Config: config, Log: func(level abi.LogLevel, line string) {
		s.lines = append(s.lines, level.String()+" "+line)
	}}
}

const addFriendBody = `{"callbackCommand":"callbackBeforeAddFriendCommand","fromUserID":"user_a","toUserID":"user_b","reqMsg":"hi","ex":""}`

func TestHandle(t *testing.T) {
	type handler = func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error)
	tests := []struct {
		name      string
		h         handler
		body      string
		wantReply string // "" means no reply
		wantErr   string
		wantLog   string // prefix of the first log line, if any
	}{
		{
			name: "no reply",
			h:    func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) { return nil, nil },
		},
		{
			name: "typed nil reply is no reply",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				var r *openim.BeforeAddFriendResp
				return r, nil
			},
		},
		{
			name: "stop",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				return Stop[openim.BeforeAddFriendResp](1201, "no"), nil
			},
			wantReply: `"errCode":1201`,
		},
		{
			name: "request is decoded",
			h: func(_ *Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				return Stop[openim.BeforeAddFriendResp](1, req.FromUserID+"/"+req.ToUserID+":"+req.ReqMsg), nil
			},
			wantReply: `"errMsg":"user_a/user_b:hi"`,
		},
		{
			name: "error",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				return Continue[openim.BeforeAddFriendResp](nil), errors.New("lookup failed")
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand failed: lookup failed",
		},
		{
			name: "panic with string",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				panic("boom")
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand panicked: boom",
			wantLog: "error handler panicked command=callbackBeforeAddFriendCommand stack=",
		},
		{
			name: "panic with error",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				panic(errors.New("bad state"))
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand panicked: bad state",
		},
		{
			name: "runtime error",
			h: func(_ *Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				var m map[string]int
				m[req.FromUserID]++
				return nil, nil
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand panicked: assignment to entry in nil map",
		},
		{
			name: "panic with nil",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				panic(nil)
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand panicked: panic called with nil argument",
		},
		{
			name: "panic with other type",
			h: func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
				panic(struct{ x int }{1})
			},
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand panicked: (a value of a type without Error or String method)",
		},
		{
			name:    "invalid JSON",
			h:       func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) { return nil, nil },
			body:    `{"fromUserID":`,
			wantErr: "plugin: handler for callbackBeforeAddFriendCommand failed: ",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			useHandlers(t)
			OnBeforeAddFriend(tc.h)
			body := tc.body
			if body == "" {
				body = addFriendBody
			}
			var logs logSink
			reply, err := Handle(logs.host(nil), "callbackBeforeAddFriendCommand", []byte(body))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tc.wantErr)
				}
				if reply != nil {
					t.Errorf("reply = %s alongside an error", reply)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantReply == "" && reply != nil:
				t.Fatalf("reply = %s, want none", reply)
			case tc.wantReply != "" && !strings.Contains(string(reply), tc.wantReply):
				t.Fatalf("reply = %s, want it to contain %s", reply, tc.wantReply)
			}
			if tc.wantLog != "" && (len(logs.lines) == 0 || !strings.HasPrefix(logs.lines[0], tc.wantLog)) {
				t.Fatalf("logs = %q, want a first line starting with %q", logs.lines, tc.wantLog)
			}
		})
	}
}

func TestHandleUnknownCommand(t *testing.T) {
	useHandlers(t)
	OnBeforeAddFriend(func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) { return nil, nil })
	OnBeforeJoinGroup(func(*Context, *openim.BeforeJoinGroupReq) (*openim.BeforeJoinGroupResp, error) { return nil, nil })
	_, err := Handle(nil, "callbackAfterGroupMsgReadCommand", []byte(`{}`))
	want := "plugin: no handler for command[callbackAfterGroupMsgReadCommand]; this plugin handles [callbackBeforeAddFriendCommand,callbackBeforeJoinGroupCommand]"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if got, want := strings.Join(Commands(), ","), "callbackBeforeAddFriendCommand,callbackBeforeJoinGroupCommand"; got != want {
		t.Fatalf("Commands() = %s, want %s", got, want)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	useHandlers(t)
	h := func(*Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) { return nil, nil }
	OnBeforeAddFriend(h)
	defer func() {
		want := "plugin: a handler for callbackBeforeAddFriendCommand is already registered; register each command once"
		if r := recover(); r != want {
			t.Fatalf("panic = %v, want %q", r, want)
		}
	}()
	OnBeforeAddFriend(h)
}

func TestContextCommandAndConfig(t *testing.T) {
	useHandlers(t)
	long := strings.Repeat("x", 5000) // larger than any earlier value: the scratch buffer grows
	var got []string
	OnBeforeJoinGroup(func(c *Context, _ *openim.BeforeJoinGroupReq) (*openim.BeforeJoinGroupResp, error) {
		got = append(got, c.Command().String())
		for _, k := range []string{"short", "empty", "long", "short", "missing"} {
			v, ok := c.Config(k)
			if len(v) > 10 {
				v = v[:10] + "..."
			}
			if !ok {
				v = "(unset)"
			}
			got = append(got, k+"="+v)
		}
		return nil, nil
	})
	host := &Host{Config: map[string]string{"short": "abc", "empty": "", "long": long}}
	if _, err := Handle(host, "callbackBeforeJoinGroupCommand", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	want := "callbackBeforeJoinGroupCommand short=abc empty= long=xxxxxxxxxx... short=abc missing=(unset)"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
}

// misbehavingHost reports a longer value on every call: configBytes must
// give up instead of looping.
type misbehavingHost struct{ n int }

func (h *misbehavingHost) log(abi.LogLevel, []byte) {}
func (h *misbehavingHost) config(_ string, dst []byte) int {
	h.n++
	return len(dst) + 1
}

func TestConfigHostGrowsValueForever(t *testing.T) {
	t.Parallel()
	h := &misbehavingHost{}
	c := &Context{host: h}
	if v, ok := c.Config("k"); ok {
		t.Fatalf("Config = %q, true; want not set", v)
	}
	if h.n != 2 {
		t.Fatalf("host asked %d times, want 2", h.n)
	}
}

// TestHandleWire checks the wire-format path of the typed adapters: the
// handler sees the same request as through JSON, and a malformed wire body is
// the call's error (imhook applies the failure policy), never a panic or a
// call of the handler.
func TestHandleWire(t *testing.T) {
	useHandlers(t)
	var seen []openim.BeforeAddFriendReq
	OnBeforeAddFriend(func(_ *Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
		seen = append(seen, *req)
		return nil, nil
	})
	req := openim.BeforeAddFriendReq{CallbackCommand: openim.BeforeAddFriend.String(), FromUserID: "u1", ToUserID: "u2", ReqMsg: "hi"}
	cmd := openim.BeforeAddFriend.String()
	if reply, err := HandleWire(nil, cmd, req.AppendWire(nil)); err != nil || reply != nil {
		t.Fatalf("HandleWire = %s, %v; want no reply", reply, err)
	}
	if reply, err := Handle(nil, cmd, req.AppendJSON(nil)); err != nil || reply != nil {
		t.Fatalf("Handle = %s, %v; want no reply", reply, err)
	}
	if len(seen) != 2 || seen[0] != req || seen[1] != req {
		t.Fatalf("handler saw %+v, want the request twice", seen)
	}
	wire := req.AppendWire(nil)
	for _, bad := range [][]byte{nil, wire[:16], append(append([]byte(nil), wire[:8]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)} {
		_, err := HandleWire(nil, cmd, bad)
		if err == nil || !strings.Contains(err.Error(), "wire input") {
			t.Fatalf("HandleWire(%x) err = %v, want the wire decoding error", bad, err)
		}
	}
	if len(seen) != 2 {
		t.Fatalf("the handler ran on malformed input: %+v", seen[2:])
	}
}
