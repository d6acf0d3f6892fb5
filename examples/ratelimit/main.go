// Command ratelimit is an imhook plugin that limits how many messages a user
// may send per time window, in single chats and in each group, with atomic
// counters in the tenant's state (grant kv).
//
// Each message adds 1 to a counter whose TTL is the window: the first
// message of a window creates the counter, which expires with the window,
// so a user gets a fresh allowance each window (a fixed window). Counters
// are atomic across concurrent callbacks and, with the Redis store, across
// replicas. A message over the limit is refused with err_code / err_msg.
//
// When the state cannot be reached or is over its quota, the message goes
// through (the limit fails open) and the plugin logs a warning: a rate
// limit must not stop a chat because of its own trouble.
//
// See README.md for the configuration.
package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnBeforeSendSingleMsg(beforeSendSingle)
	plugin.OnBeforeSendGroupMsg(beforeSendGroup)
}

// Configuration keys and defaults.
const (
	KeySingle = "single_per_window" // messages per window in single chats
	KeyGroup  = "group_per_window"  // messages per window in each group
	KeyWindow = "window"            // Go duration
	KeyCode   = "err_code"
	KeyMsg    = "err_msg"

	DefaultSingle  = 20
	DefaultGroup   = 20
	DefaultWindow  = time.Minute
	DefaultErrCode = 20002
	DefaultErrMsg  = "too many messages, slow down"
)

func parseLimit(def int64) func(string, bool) (int64, error) {
	return func(raw string, ok bool) (int64, error) {
		if !ok {
			return def, nil
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 1 {
			return 0, errors.New(`want a positive integer, got "` + raw + `"`)
		}
		return n, nil
	}
}

var (
	singleLimit = plugin.NewSetting(KeySingle, parseLimit(DefaultSingle))
	groupLimit  = plugin.NewSetting(KeyGroup, parseLimit(DefaultGroup))
	window      = plugin.NewSetting(KeyWindow, func(raw string, ok bool) (time.Duration, error) {
		if !ok {
			return DefaultWindow, nil
		}
		d, err := time.ParseDuration(raw)
		if err != nil || d < time.Second {
			return 0, errors.New(`want a duration of 1s or more such as "1m", got "` + raw + `"`)
		}
		return d, nil
	})
	errCode = plugin.NewSetting(KeyCode, func(raw string, ok bool) (int32, error) {
		if !ok {
			return DefaultErrCode, nil
		}
		v, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || v == 0 {
			return 0, errors.New(`want a non-zero 32-bit integer, got "` + raw + `"`)
		}
		return int32(v), nil
	})
	errMsg = plugin.NewSetting(KeyMsg, func(raw string, ok bool) (string, error) {
		if !ok || raw == "" {
			return DefaultErrMsg, nil
		}
		return raw, nil
	})
)

func beforeSendSingle(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
	stop, err := limit(c, singleLimit, "s:"+req.SendID, req.SendID, "")
	if err != nil || stop == nil {
		return nil, err
	}
	return &openim.BeforeSendSingleMsgResp{CommonResp: *stop}, nil
}

func beforeSendGroup(c *plugin.Context, req *openim.BeforeSendGroupMsgReq) (*openim.BeforeSendGroupMsgResp, error) {
	// The group ID goes first and has no ':' in OpenIM, so keys of
	// different (group, user) pairs never collide.
	stop, err := limit(c, groupLimit, "g:"+req.GroupID+":"+req.SendID, req.SendID, req.GroupID)
	if err != nil || stop == nil {
		return nil, err
	}
	return &openim.BeforeSendGroupMsgResp{CommonResp: *stop}, nil
}

// limit counts one message on key and returns the stop reply when the count
// is over the limit, nil to let the message through.
func limit(c *plugin.Context, max *plugin.Setting[int64], key, user, group string) (*openim.CommonResp, error) {
	if user == "" {
		return nil, nil // nothing to count against
	}
	n, err := max.Get(c)
	if err != nil {
		return nil, err
	}
	w, err := window.Get(c)
	if err != nil {
		return nil, err
	}
	count, err := c.KV().Add(key, 1, w)
	if err != nil {
		// Fail open: the state store's trouble must not stop chats.
		c.Warn("rate limit not applied", "send_id", user, "group_id", group, "err", err)
		return nil, nil
	}
	if count <= n {
		return nil, nil
	}
	code, err := errCode.Get(c)
	if err != nil {
		return nil, err
	}
	msg, err := errMsg.Get(c)
	if err != nil {
		return nil, err
	}
	if count == n+1 { // log once per window, not every refused message
		c.Info("rate limited", "send_id", user, "group_id", group, "limit", n, "window", w.String())
	}
	return &openim.CommonResp{ErrCode: code, ErrMsg: msg, NextCode: 1}, nil
}

// main is required by the Go toolchain and never runs: imhook calls the
// exports of sdk/plugin.
func main() {}
