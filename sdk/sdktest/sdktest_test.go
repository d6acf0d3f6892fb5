//go:build !wasip1

package sdktest_test

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/sdktest"
)

// The handler under test, registered as a plugin's main package would.
func init() {
	plugin.OnBeforeAddFriend(func(c *plugin.Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
		greeting, _ := c.Config("greeting")
		c.Warn("friend request", "from", req.FromUserID, "greeting", greeting)
		switch req.ReqMsg {
		case "":
			return plugin.Stop[openim.BeforeAddFriendResp](7, "say "+greeting), nil
		case "fail":
			return nil, errors.New("backend down")
		}
		return nil, nil
	})
}

func TestDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		msg      string
		wantStop bool
		wantErr  string
	}{
		{name: "no reply", msg: "hi"},
		{name: "stop", msg: "", wantStop: true},
		{name: "error", msg: "fail", wantErr: "plugin: handler for callbackBeforeAddFriendCommand failed: backend down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := sdktest.New(t, map[string]string{"greeting": "hello"})
			resp, err := sdktest.Do[openim.BeforeAddFriendResp](h, &openim.BeforeAddFriendReq{FromUserID: "a", ToUserID: "b", ReqMsg: tc.msg})
			switch {
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr || resp != nil {
					t.Fatalf("Do = %+v, %v; want error %s", resp, err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.wantStop:
				if !plugin.Stopped(resp) || resp.ErrCode != 7 || resp.ErrMsg != "say hello" {
					t.Fatalf("Do = %+v, want a stop with code 7 and message %q", resp, "say hello")
				}
			case resp != nil:
				t.Fatalf("Do = %+v, want no reply", resp)
			}
			want := []sdktest.Line{{Level: abi.LogWarn, Text: "friend request from=a greeting=hello"}}
			if got := h.Logs(); !slices.Equal(got, want) {
				t.Fatalf("Logs = %q, want %q", got, want)
			}
		})
	}
}

func TestCallRawBody(t *testing.T) {
	t.Parallel()
	reply, err := sdktest.Call(t, "callbackBeforeAddFriendCommand", []byte(`{"fromUserID":"a","toUserID":"b","reqMsg":""}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"actionCode":0,"errCode":7,"errMsg":"say ","errDlt":"","nextCode":1}`; string(reply) != want {
		t.Fatalf("reply = %s, want %s", reply, want)
	}
	if _, err := sdktest.Call(t, "callbackBeforeAddFriendCommand", []byte(`{"fromUserID":1}`)); err == nil ||
		!strings.HasPrefix(err.Error(), "plugin: handler for callbackBeforeAddFriendCommand failed: ") {
		t.Fatalf("bad body: err = %v", err)
	}
}

func TestConfigIsCopied(t *testing.T) {
	t.Parallel()
	config := map[string]string{"greeting": "hello"}
	h := sdktest.New(t, config)
	config["greeting"] = "changed"
	resp, err := sdktest.Do[openim.BeforeAddFriendResp](h, &openim.BeforeAddFriendReq{})
	if err != nil || resp == nil || resp.ErrMsg != "say hello" {
		t.Fatalf("Do = %+v, %v; want the configuration as it was passed to New", resp, err)
	}
}

// fatalTB records a test failure instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper()             {}
func (f *fatalTB) Logf(string, ...any) {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = format
	f.mu.Unlock()
	runtime.Goexit()
}

func TestDoWrongReplyTypeFails(t *testing.T) {
	t.Parallel()
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := sdktest.New(tb, nil)
		sdktest.Do[openim.BeforeJoinGroupResp](h, &openim.BeforeAddFriendReq{})
	}()
	<-done
	if !strings.Contains(tb.msg, "that reply type belongs to") {
		t.Fatalf("Fatalf = %q, want the reply type mismatch reported", tb.msg)
	}
}
