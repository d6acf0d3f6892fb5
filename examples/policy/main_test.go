package main

import (
	"slices"
	"testing"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/sdktest"
)

// verdict is what a callback came to, in a form tests can compare.
type verdict struct {
	stopped bool
	code    int32
	msg     string
	refused string // refusedMembersAccount, comma-joined
	err     string
}

func friend(from, to, msg string) *openim.BeforeAddFriendReq {
	return &openim.BeforeAddFriendReq{FromUserID: from, ToUserID: to, ReqMsg: msg}
}

func join(group, user, msg string) *openim.BeforeJoinGroupReq {
	return &openim.BeforeJoinGroupReq{GroupID: group, GroupType: "\u0002", ApplyID: user, ReqMessage: msg}
}

func invite(group string, users ...string) *openim.BeforeInviteJoinGroupReq {
	return &openim.BeforeInviteJoinGroupReq{GroupID: group, Reason: "welcome", InvitedUserIDs: users}
}

func decide(t *testing.T, config map[string]string, req openim.Request) verdict {
	t.Helper()
	h := sdktest.New(t, config)
	var (
		c       *openim.CommonResp
		refused []string
		err     error
	)
	switch req.(type) {
	case *openim.BeforeAddFriendReq:
		var r *openim.BeforeAddFriendResp
		if r, err = sdktest.Do[openim.BeforeAddFriendResp](h, req); r != nil {
			c = r.Common()
		}
	case *openim.BeforeJoinGroupReq:
		var r *openim.BeforeJoinGroupResp
		if r, err = sdktest.Do[openim.BeforeJoinGroupResp](h, req); r != nil {
			c = r.Common()
		}
	case *openim.BeforeInviteJoinGroupReq:
		var r *openim.BeforeInviteJoinGroupResp
		if r, err = sdktest.Do[openim.BeforeInviteJoinGroupResp](h, req); r != nil {
			c, refused = r.Common(), r.RefusedMembersAccount
		}
	}
	var v verdict
	switch {
	case err != nil:
		v.err = err.Error()
	case c != nil:
		v = verdict{stopped: c.Stopped(), code: c.ErrCode, msg: c.ErrMsg}
		for i, u := range refused {
			if i > 0 {
				v.refused += ","
			}
			v.refused += u
		}
	}
	return v
}

func refuse(msg string) verdict { return verdict{stopped: true, code: defaultErrCode, msg: msg} }

func TestPolicy(t *testing.T) {
	t.Parallel()
	cfg := map[string]string{
		"blocked_users":          "spammer, mallory",
		"blocked_prefixes":       "bot_,guest_",
		"closed_groups":          "g_staff",
		"friend_require_message": "true",
	}
	tests := []struct {
		name   string
		config map[string]string
		req    openim.Request
		want   verdict
	}{
		{"no configuration allows friends", nil, friend("a", "b", ""), verdict{}},
		{"no configuration allows joins", nil, join("g1", "a", ""), verdict{}},
		{"no configuration allows invites", nil, invite("g1", "a", "b"), verdict{}},

		{"friend allowed", cfg, friend("alice", "bob", "hi"), verdict{}},
		{"friend from blocked user", cfg, friend("mallory", "bob", "hi"), refuse("user mallory may not send friend requests")},
		{"friend to blocked prefix", cfg, friend("alice", "bot_42", "hi"), refuse("user bot_42 does not accept friend requests")},
		{"friend without message", cfg, friend("alice", "bob", "  "), refuse("a friend request needs a message")},
		{"friend message not required when off", map[string]string{"friend_require_message": "false"}, friend("alice", "bob", ""), verdict{}},

		{"join allowed", cfg, join("g1", "alice", ""), verdict{}},
		{"join closed group", cfg, join("g_staff", "alice", "please"), refuse("group g_staff is closed")},
		{"join by blocked prefix", cfg, join("g1", "guest_7", "please"), refuse("user guest_7 may not join groups")},
		{"join allow list admits", map[string]string{"join_allowed_users": "alice,bob"}, join("g1", "bob", ""), verdict{}},
		{"join allow list refuses", map[string]string{"join_allowed_users": "alice,bob"}, join("g1", "carol", ""), refuse("user carol may not join groups")},
		{"empty allow list admits all", map[string]string{"join_allowed_users": " , "}, join("g1", "carol", ""), verdict{}},
		{"join needs message", map[string]string{"join_require_message": "1"}, join("g1", "carol", ""), refuse("a join request needs a message")},

		{"invite allowed", cfg, invite("g1", "alice", "bob"), verdict{}},
		{"invite into closed group", cfg, invite("g_staff", "alice"), refuse("group g_staff is closed")},
		{"invite blocked users", cfg, invite("g1", "alice", "bot_1", "spammer"),
			verdict{stopped: true, code: defaultErrCode, msg: "users may not join groups: bot_1,spammer", refused: "bot_1,spammer"}},
		{"invite nobody", cfg, invite("g1"), verdict{}},

		{"custom err_code", map[string]string{"closed_groups": "g1", "err_code": "-7"}, join("g1", "a", ""), verdict{stopped: true, code: -7, msg: "group g1 is closed"}},
		{"invalid bool", map[string]string{"friend_require_message": "yes"}, friend("a", "b", ""),
			verdict{err: `plugin: handler for callbackBeforeAddFriendCommand failed: plugin: config[friend_require_message]: want true or false, got "yes"`}},
		{"invalid err_code", map[string]string{"closed_groups": "g1", "err_code": "99999999999"}, invite("g1", "a"),
			verdict{err: `plugin: handler for callbackBeforeInviteJoinGroupCommand failed: plugin: config[err_code]: want a non-zero 32-bit integer, got "99999999999"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := decide(t, tc.config, tc.req); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRefusalIsLogged(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, map[string]string{"closed_groups": "3917201845"})
	// The body exactly as OpenIM's encoder writes it.
	body := `{"callbackCommand":"callbackBeforeJoinGroupCommand","groupID":"3917201845","groupType":"\u0002","applyID":"user_d","reqMessage":"let me in","ex":""}` + "\n"
	reply, err := h.Call("callbackBeforeJoinGroupCommand", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"actionCode":0,"errCode":20002,"errMsg":"group 3917201845 is closed","errDlt":"","nextCode":1}`
	if string(reply) != want {
		t.Fatalf("reply = %s\nwant    %s", reply, want)
	}
	wantLogs := []sdktest.Line{{Text: `refused command=callbackBeforeJoinGroupCommand reason="group 3917201845 is closed"`}}
	if got := h.Logs(); !slices.Equal(got, wantLogs) {
		t.Fatalf("logs = %q, want %q", got, wantLogs)
	}
}
