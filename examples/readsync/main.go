// Command readsync is an imhook plugin that records OpenIM read receipts, so a
// tenant's own systems can follow what each user has read.
//
// A real deployment would forward each event to the tenant's service; the
// sandbox has no network, so readsync writes one structured log line per
// event, which imhook attributes to the tenant and ships with its own logs.
// It never answers: OpenIM ignores replies to after-callbacks, so the cheapest
// correct answer is no reply at all.
//
// See README.md for the configuration and examples.
package main

import (
	"errors"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnAfterGroupMsgRead(groupRead)
	plugin.OnAfterSingleMsgRead(singleRead)
}

// off is the level value that disables the read log.
const off = abi.LogLevel(1 << 30)

// level is the log level of read events, from the tenant's "log_level" value.
var level = plugin.NewSetting("log_level", parseLevel)

// parseLevel reads log_level: debug, info (the default), warn, or off.
func parseLevel(raw string, ok bool) (abi.LogLevel, error) {
	switch raw {
	case "debug":
		return abi.LogDebug, nil
	case "info":
		return abi.LogInfo, nil
	case "warn":
		return abi.LogWarn, nil
	case "off":
		return off, nil
	case "":
		if !ok {
			return abi.LogInfo, nil
		}
	}
	return 0, errors.New(`want one of debug, info, warn, off; got "` + raw + `"`)
}

// groupRead records that a user has read a group conversation up to a seq.
//
// OpenIM's field names do not mean what they say here: sendID is the reader
// (the owner of the conversation), receiveID is the reader again, unreadMsgNum
// is the new has-read seq and contentType is the conversation type (3 for a
// group). OpenIM does not send the group or conversation ID in this callback.
func groupRead(c *plugin.Context, req *openim.AfterGroupMsgReadReq) (*openim.AfterGroupMsgReadResp, error) {
	lvl, err := level.Get(c)
	if err != nil || lvl == off {
		return nil, err
	}
	// LogAttrs rather than Log: this runs on every read receipt, and typed
	// attributes are not boxed (no allocation).
	c.LogAttrs(lvl, "group read",
		plugin.String("reader", req.SendID),
		plugin.Int64("has_read_seq", req.UnreadMsgNum),
		plugin.Int64("conversation_type", req.ContentType))
	if req.ReceiveID != req.SendID {
		// Never seen from OpenIM 3.7 to 3.8.4; worth knowing if it changes.
		c.Warn("group read with differing reader fields", "send_id", req.SendID, "receive_id", req.ReceiveID)
	}
	return nil, nil
}

// singleRead records that a user has read messages of a conversation.
//
// Seqs lists the seqs marked read (the JSON key is capitalised "Seqs"); it may
// be empty when the client marked the whole conversation read. contentType is
// the conversation type, not a message content type.
func singleRead(c *plugin.Context, req *openim.AfterSingleMsgReadReq) (*openim.AfterSingleMsgReadResp, error) {
	lvl, err := level.Get(c)
	if err != nil || lvl == off {
		return nil, err
	}
	var maxSeq int64
	for _, s := range req.Seqs {
		maxSeq = max(maxSeq, s)
	}
	c.LogAttrs(lvl, "conversation read",
		plugin.String("conversation", req.ConversationID),
		plugin.String("reader", req.UserID),
		plugin.Int64s("seqs", req.Seqs),
		plugin.Int64("max_seq", maxSeq),
		plugin.Int64("conversation_type", int64(req.ContentType)))
	return nil, nil
}

func main() {}
