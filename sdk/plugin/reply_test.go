//go:build !wasip1

package plugin

import (
	"testing"

	"github.com/imhook/imhook/sdk/openim"
)

func TestReplyHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   openim.Reply
		want    openim.CommonResp
		stopped bool
	}{
		{"stop", Stop[openim.BeforeSendSingleMsgResp](1001, "blocked"), openim.CommonResp{NextCode: 1, ErrCode: 1001, ErrMsg: "blocked"}, true},
		{"stop detail", StopDetail[openim.BeforeJoinGroupResp](7, "no", "closed group"), openim.CommonResp{NextCode: 1, ErrCode: 7, ErrMsg: "no", ErrDlt: "closed group"}, true},
		{"continue", Continue[openim.BeforeMsgModifyResp](nil), openim.CommonResp{}, false},
		{"refuse by hand", &openim.BeforeSendGroupMsgResp{CommonResp: Refuse(3, "x", "")}, openim.CommonResp{NextCode: 1, ErrCode: 3, ErrMsg: "x"}, true},
		{"action code set means ignore", &openim.BeforeSendGroupMsgResp{CommonResp: openim.CommonResp{ActionCode: 1, NextCode: 1}}, openim.CommonResp{ActionCode: 1, NextCode: 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := *tc.reply.Common(); got != tc.want {
				t.Fatalf("common = %+v, want %+v", got, tc.want)
			}
			if got := Stopped(tc.reply); got != tc.stopped {
				t.Fatalf("Stopped = %v, want %v", got, tc.stopped)
			}
		})
	}
	if Stopped(nil) {
		t.Fatal("Stopped(nil) = true")
	}
}

func TestContinueEchoes(t *testing.T) {
	t.Parallel()
	req := &openim.BeforeSetGroupInfoReq{GroupID: "g1", GroupName: "Friends"}
	r := Continue[openim.BeforeSetGroupInfoResp](req)
	if r.GroupName != "Friends" || r.GroupID != "g1" || Stopped(r) {
		t.Fatalf("Continue(req) = %+v, want the group name echoed and no stop", r)
	}
	defer func() {
		want := "plugin: Continue for callbackBeforeSetGroupInfoCommand needs that command's request, to echo the fields OpenIM copies"
		if got := recover(); got != want {
			t.Fatalf("panic = %v, want %s", got, want)
		}
	}()
	Continue[openim.BeforeSetGroupInfoResp](nil)
}
