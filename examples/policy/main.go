// Command policy is an imhook plugin that enforces a tenant's friend and group
// rules: who may send or receive friend requests, which groups are closed, who
// may apply to join groups, and whether requests must carry a message.
//
// It handles callbackBeforeAddFriendCommand, callbackBeforeJoinGroupCommand
// and callbackBeforeInviteJoinGroupCommand. Every rule comes from the
// tenant's configuration values and is off when its value is not set, so the
// plugin with no configuration lets everything through.
//
// See README.md for the configuration and examples.
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnBeforeAddFriend(beforeAddFriend)
	plugin.OnBeforeJoinGroup(beforeJoinGroup)
	plugin.OnBeforeInviteJoinGroup(beforeInvite)
}

// defaultErrCode is the errCode of refusals when err_code is not set.
const defaultErrCode = 20002

// The tenant's configuration, parsed when it changes.
var (
	blockedUsers    = listSetting("blocked_users")
	blockedPrefixes = listSetting("blocked_prefixes")
	closedGroups    = listSetting("closed_groups")
	joinAllowed     = listSetting("join_allowed_users")
	friendNeedsMsg  = boolSetting("friend_require_message")
	joinNeedsMsg    = boolSetting("join_require_message")
	errCode         = plugin.NewSetting("err_code", func(raw string, ok bool) (int32, error) {
		if !ok {
			return defaultErrCode, nil
		}
		v, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || v == 0 {
			return 0, errors.New(`want a non-zero 32-bit integer, got "` + raw + `"`)
		}
		return int32(v), nil
	})
)

// set is a list configuration value, for membership tests.
type set map[string]struct{}

func (s set) has(v string) bool { _, ok := s[v]; return ok }

// listSetting reads a comma-separated list; unset or empty means no entries.
func listSetting(key string) *plugin.Setting[set] {
	return plugin.NewSetting(key, func(raw string, _ bool) (set, error) {
		s := set{}
		for _, v := range plugin.SplitList(raw) {
			s[v] = struct{}{}
		}
		return s, nil
	})
}

// boolSetting reads true/false (and the other spellings strconv.ParseBool
// accepts); unset means false.
func boolSetting(key string) *plugin.Setting[bool] {
	return plugin.NewSetting(key, func(raw string, ok bool) (bool, error) {
		if !ok {
			return false, nil
		}
		v, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return false, errors.New(`want true or false, got "` + raw + `"`)
		}
		return v, nil
	})
}

// rules is the configuration one call needs, read through the Settings.
type rules struct {
	c   *plugin.Context
	err error // the first configuration error
}

func (r *rules) list(s *plugin.Setting[set]) set {
	v, err := s.Get(r.c)
	if r.err == nil {
		r.err = err
	}
	return v
}

func (r *rules) flag(s *plugin.Setting[bool]) bool {
	v, err := s.Get(r.c)
	if r.err == nil {
		r.err = err
	}
	return v
}

// blocked reports whether user is kept out of friend and group actions.
func (r *rules) blocked(user string) bool {
	if r.list(blockedUsers).has(user) {
		return true
	}
	for p := range r.list(blockedPrefixes) {
		if strings.HasPrefix(user, p) {
			return true
		}
	}
	return false
}

// refusal is a decision to stop an operation, with the message for the client.
type refusal struct{ msg string }

// reply builds the refusing reply of type R, or nil when there is no refusal.
func reply[R any, P plugin.ReplyPtr[R]](r *rules, ref *refusal) (P, error) {
	if r.err != nil || ref == nil {
		return nil, r.err
	}
	code, err := errCode.Get(r.c)
	if err != nil {
		return nil, err
	}
	r.c.Info("refused", "command", r.c.Command(), "reason", ref.msg)
	return plugin.Stop[R, P](code, ref.msg), nil
}

func beforeAddFriend(c *plugin.Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
	r := &rules{c: c}
	return reply[openim.BeforeAddFriendResp](r, r.addFriend(req))
}

func (r *rules) addFriend(req *openim.BeforeAddFriendReq) *refusal {
	switch {
	case r.blocked(req.FromUserID):
		return &refusal{"user " + req.FromUserID + " may not send friend requests"}
	case r.blocked(req.ToUserID):
		return &refusal{"user " + req.ToUserID + " does not accept friend requests"}
	case r.flag(friendNeedsMsg) && strings.TrimSpace(req.ReqMsg) == "":
		return &refusal{"a friend request needs a message"}
	}
	return nil
}

func beforeJoinGroup(c *plugin.Context, req *openim.BeforeJoinGroupReq) (*openim.BeforeJoinGroupResp, error) {
	r := &rules{c: c}
	return reply[openim.BeforeJoinGroupResp](r, r.joinGroup(req))
}

// joinGroup decides an application to join a group. applyID is the applicant.
func (r *rules) joinGroup(req *openim.BeforeJoinGroupReq) *refusal {
	allowed := r.list(joinAllowed)
	switch {
	case r.list(closedGroups).has(req.GroupID):
		return &refusal{"group " + req.GroupID + " is closed"}
	case r.blocked(req.ApplyID), len(allowed) > 0 && !allowed.has(req.ApplyID):
		return &refusal{"user " + req.ApplyID + " may not join groups"}
	case r.flag(joinNeedsMsg) && strings.TrimSpace(req.ReqMessage) == "":
		return &refusal{"a join request needs a message"}
	}
	return nil
}

func beforeInvite(c *plugin.Context, req *openim.BeforeInviteJoinGroupReq) (*openim.BeforeInviteJoinGroupResp, error) {
	r := &rules{c: c}
	if r.list(closedGroups).has(req.GroupID) {
		return reply[openim.BeforeInviteJoinGroupResp](r, &refusal{"group " + req.GroupID + " is closed"})
	}
	// OpenIM can only refuse an invitation as a whole; refusedMembersAccount
	// names the users at fault (OpenIM reads but does not use it yet).
	var refused []string
	for _, u := range req.InvitedUserIDs {
		if r.blocked(u) {
			refused = append(refused, u)
		}
	}
	if len(refused) == 0 {
		return reply[openim.BeforeInviteJoinGroupResp](r, nil)
	}
	resp, err := reply[openim.BeforeInviteJoinGroupResp](r, &refusal{"users may not join groups: " + strings.Join(refused, ",")})
	if resp != nil {
		resp.RefusedMembersAccount = refused
	}
	return resp, err
}

func main() {}
