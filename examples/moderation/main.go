// Command moderation is an imhook plugin that keeps banned words out of text
// messages, in single and group chats.
//
// In "block" mode it refuses a message that contains a banned word in
// callbackBeforeSendSingleMsgCommand and callbackBeforeSendGroupMsgCommand;
// the sender gets the configured error. In "rewrite" mode it lets the message
// through and masks the words instead, in callbackBeforeMsgModifyCommand: the
// before-send replies of OpenIM carry only the common fields, so changing a
// message's content is only possible through the message-modify reply.
//
// See README.md for the configuration and examples.
package main

import (
	"github.com/imhook/imhook/examples/moderation/rules"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/plugin/textmsg"
)

func init() {
	plugin.OnBeforeSendSingleMsg(beforeSendSingle)
	plugin.OnBeforeSendGroupMsg(beforeSendGroup)
	plugin.OnBeforeMsgModify(beforeModify)
}

// The tenant's configuration, parsed when it changes; the parsers are shared
// with the native baseline of the benchmarks (package rules).
var (
	banned = plugin.NewSetting(rules.KeyBannedWords, func(raw string, _ bool) (*rules.Matcher, error) {
		return rules.NewMatcher(plugin.SplitList(raw)), nil
	})
	rewrite = plugin.NewSetting(rules.KeyMode, rules.ParseMode)
	errCode = plugin.NewSetting(rules.KeyErrCode, rules.ParseErrCode)
	errMsg  = plugin.NewSetting(rules.KeyErrMsg, rules.ParseErrMsg)
	mask    = plugin.NewSetting(rules.KeyMask, rules.ParseMask)
)

func beforeSendSingle(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
	stop, err := check(c, req.ContentType, req.Content)
	if err != nil || stop == nil {
		return nil, err
	}
	c.Info("message blocked", "send_id", req.SendID, "recv_id", req.RecvID, "client_msg_id", req.ClientMsgID)
	return &openim.BeforeSendSingleMsgResp{CommonResp: *stop}, nil
}

func beforeSendGroup(c *plugin.Context, req *openim.BeforeSendGroupMsgReq) (*openim.BeforeSendGroupMsgResp, error) {
	stop, err := check(c, req.ContentType, req.Content)
	if err != nil || stop == nil {
		return nil, err
	}
	c.Info("message blocked", "send_id", req.SendID, "group_id", req.GroupID, "client_msg_id", req.ClientMsgID)
	return &openim.BeforeSendGroupMsgResp{CommonResp: *stop}, nil
}

// check returns the reply fields that refuse a message in block mode when its
// text has a banned word, and nil when the message may go on.
func check(c *plugin.Context, contentType int32, content string) (*openim.CommonResp, error) {
	m, text, err := textToCheck(c, contentType, content, false)
	if err != nil || m == nil || !m.Contains(text) {
		return nil, err
	}
	code, err := errCode.Get(c)
	if err != nil {
		return nil, err
	}
	msg, err := errMsg.Get(c)
	if err != nil {
		return nil, err
	}
	stop := plugin.Refuse(code, msg, "")
	return &stop, nil
}

func beforeModify(c *plugin.Context, req *openim.BeforeMsgModifyReq) (*openim.BeforeMsgModifyResp, error) {
	m, text, err := textToCheck(c, req.ContentType, req.Content, true)
	if err != nil || m == nil {
		return nil, err
	}
	r, err := mask.Get(c)
	if err != nil {
		return nil, err
	}
	masked, changed := m.Mask(text, r)
	if !changed {
		return nil, nil
	}
	c.Info("message rewritten", "send_id", req.SendID, "client_msg_id", req.ClientMsgID)
	resp := plugin.Continue[openim.BeforeMsgModifyResp](req)
	resp.Content = openim.String(textmsg.Encode(masked))
	return resp, nil
}

// textToCheck returns the matcher and the text of a message when the message
// must be checked by the callback of the mode given by inRewrite; a nil
// matcher means there is nothing to do.
func textToCheck(c *plugin.Context, contentType int32, content string, inRewrite bool) (*rules.Matcher, string, error) {
	if contentType != textmsg.ContentType {
		return nil, "", nil // only text messages are moderated
	}
	isRewrite, err := rewrite.Get(c)
	if err != nil || isRewrite != inRewrite {
		return nil, "", err
	}
	m, err := banned.Get(c)
	if err != nil || m.Empty() {
		return nil, "", err
	}
	text, err := textmsg.Parse(content)
	if err != nil {
		// A text message whose content is not a text element: the tenant's
		// failure policy decides whether it goes through.
		return nil, "", err
	}
	return m, text, nil
}

func main() {}
