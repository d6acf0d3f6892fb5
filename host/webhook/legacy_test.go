package webhook

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOldCommandNames posts every command name OpenIM sent before a rename
// (catalog.md, renames) through the handler over loopback: each reaches the
// plugins as its current command. The name whose request changed shape, and
// an old name whose body does not decode, get the neutral reply, counted,
// never 404 or 400 with a stop.
func TestOldCommandNames(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, true)
	e.install(t, "acme", "commands")
	base := "http://" + e.listen(t, 5*time.Second) + "/hooks/acme/"
	type reply struct {
		ErrCode  int32
		ErrMsg   string
		NextCode int32
	}
	post := func(command, body string) (int, reply) {
		t.Helper()
		resp, err := http.Post(base+command, "application/json; charset=utf-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r reply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %d %q: %v", command, resp.StatusCode, b, err)
		}
		return resp.StatusCode, r
	}
	renames := map[string]string{
		"callbackQuitGroupCommand":            "callbackAfterQuitGroupCommand",
		"callbackKillGroupCommand":            "callbackAfterKickGroupCommand",
		"callbackDisMissGroupCommand":         "callbackAfterDisMissGroupCommand",
		"callbackGroupMsgReadCommand":         "callbackAfterGroupMsgReadCommand",
		"callbackSingleMsgRead":               "callbackAfterSingleMsgReadCommand",
		"callbackMsgModifyCommand":            "callbackBeforeMsgModifyCommand",
		"callbackUserOnlineCommand":           "callbackAfterUserOnlineCommand",
		"callbackUserOfflineCommand":          "callbackAfterUserOfflineCommand",
		"callbackUserKickOffCommand":          "callbackAfterUserKickOffCommand",
		"callbackOfflinePushCommand":          "callbackBeforeOfflinePushCommand",
		"callbackOnlinePushCommand":           "callbackBeforeOnlinePushCommand",
		"callbackSuperGroupOnlinePushCommand": "callbackBeforeGroupOnlinePushCommand",
		"callbackAfterTransferGroupOwner":     "callbackAfterTransferGroupOwnerCommand",
		"callbackBeforeSetFriendRemark":       "callbackBeforeSetFriendRemarkCommand",
		"callbackAfterSetFriendRemark":        "callbackAfterSetFriendRemarkCommand",
	}
	for old, current := range renames {
		status, r := post(old, `{"callbackCommand":"`+old+`","operationID":"op-1"}`)
		// The guest stops every callback with the command it was called with;
		// OpenIM ignores the reply of an after-command, which gets the neutral one.
		want := reply{ErrCode: 7, ErrMsg: current, NextCode: 1}
		if strings.Contains(current, "After") {
			want = reply{}
		}
		if status != 200 || r != want {
			t.Errorf("%s: %d %+v, want 200 and %+v", old, status, r, want)
		}
		ran := e.counter(t, "imhook_webhook_calls_total", "tenant", "acme", "command", current, "outcome", "stopped") +
			e.counter(t, "imhook_webhook_calls_total", "tenant", "acme", "command", current, "outcome", "ok")
		if ran != 1 {
			t.Errorf("%s: the plugin ran %v times as %s, want once", old, ran, current)
		}
		if n := e.counter(t, "imhook_webhook_legacy_commands_total", "tenant", "acme", "command", old, "outcome", "routed"); n != 1 {
			t.Errorf("%s: counted %v times as routed, want 1", old, n)
		}
	}

	// v3.7.x sent one joining member per call: no current type decodes it.
	const join = "callbackBeforeMemberJoinGroupCommand"
	if status, r := post(join, `{"callbackCommand":"`+join+`","groupID":"g1","userID":"u1","ex":"","groupEx":""}`); status != 200 || r != (reply{}) {
		t.Errorf("%s: %d %+v, want 200 and the neutral reply", join, status, r)
	}
	// An old before-command whose body has another shape: neutral, not 400 + stop.
	if status, r := post("callbackMsgModifyCommand", `{"callbackCommand":"callbackMsgModifyCommand","content":5}`); status != 200 || r != (reply{}) {
		t.Errorf("callbackMsgModifyCommand with a number for content: %d %+v, want 200 and the neutral reply", status, r)
	}
	for _, c := range []string{join, "callbackMsgModifyCommand"} {
		if n := e.counter(t, "imhook_webhook_legacy_commands_total", "tenant", "acme", "command", c, "outcome", "neutral"); n != 1 {
			t.Errorf("%s: counted %v times as answered neutrally, want 1", c, n)
		}
	}
	// Current names keep the strict parse.
	if status, r := post("callbackBeforeMsgModifyCommand", `{"callbackCommand":"callbackBeforeMsgModifyCommand","content":5}`); status != 400 || r.NextCode != 1 {
		t.Errorf("current name with a bad body: %d %+v, want 400 and a stop", status, r)
	}
}
