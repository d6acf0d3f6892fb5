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
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/plugin/textmsg"
)

func init() {
	plugin.OnBeforeSendSingleMsg(beforeSendSingle)
	plugin.OnBeforeSendGroupMsg(beforeSendGroup)
	plugin.OnBeforeMsgModify(beforeModify)
}

// Defaults of the configuration values.
const (
	defaultErrCode = 20001
	defaultErrMsg  = "message blocked by moderation"
	defaultMask    = '*'
)

// The tenant's configuration, parsed when it changes.
var (
	banned = plugin.NewSetting("banned_words", func(raw string, _ bool) (*matcher, error) {
		return newMatcher(plugin.SplitList(raw)), nil
	})
	rewrite = plugin.NewSetting("mode", func(raw string, ok bool) (bool, error) {
		switch raw {
		case "block":
			return false, nil
		case "rewrite":
			return true, nil
		case "":
			if !ok {
				return false, nil
			}
		}
		return false, errors.New(`want "block" or "rewrite", got "` + raw + `"`)
	})
	errCode = plugin.NewSetting("err_code", func(raw string, ok bool) (int32, error) {
		if !ok {
			return defaultErrCode, nil
		}
		v, err := strconv.ParseInt(raw, 10, 32)
		if err != nil || v == 0 {
			return 0, errors.New(`want a non-zero 32-bit integer, got "` + raw + `"`)
		}
		return int32(v), nil
	})
	errMsg = plugin.NewSetting("err_msg", func(raw string, ok bool) (string, error) {
		if !ok || raw == "" {
			return defaultErrMsg, nil
		}
		return raw, nil
	})
	mask = plugin.NewSetting("mask", func(raw string, ok bool) (rune, error) {
		if !ok {
			return defaultMask, nil
		}
		r, size := utf8.DecodeRuneInString(raw)
		if size == 0 || size != len(raw) || r == utf8.RuneError {
			return 0, errors.New(`want one character, got "` + raw + `"`)
		}
		return r, nil
	})
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
	if err != nil || m == nil || !m.contains(text) {
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
	masked, changed := m.mask(text, r)
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
func textToCheck(c *plugin.Context, contentType int32, content string, inRewrite bool) (*matcher, string, error) {
	if contentType != textmsg.ContentType {
		return nil, "", nil // only text messages are moderated
	}
	isRewrite, err := rewrite.Get(c)
	if err != nil || isRewrite != inRewrite {
		return nil, "", err
	}
	m, err := banned.Get(c)
	if err != nil || m.empty() {
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

// matcher finds banned words in a text, ignoring case.
type matcher struct {
	words [][]rune // lower-cased, non-empty
}

func newMatcher(words []string) *matcher {
	m := &matcher{}
	for _, w := range words {
		m.words = append(m.words, lower([]rune(w)))
	}
	return m
}

func (m *matcher) empty() bool { return len(m.words) == 0 }

// lower lower-cases rs in place, rune by rune, so indexes stay aligned with
// the original text (strings.ToLower may change the length).
func lower(rs []rune) []rune {
	for i, r := range rs {
		rs[i] = unicode.ToLower(r)
	}
	return rs
}

func (m *matcher) contains(text string) bool {
	low := lower([]rune(text))
	for i := range low {
		if m.matchAt(low, i) > 0 {
			return true
		}
	}
	return false
}

// matchAt returns the length of the longest banned word at low[i:], or 0.
func (m *matcher) matchAt(low []rune, i int) int {
	longest := 0
	for _, w := range m.words {
		if len(w) > longest && len(low)-i >= len(w) && equal(low[i:i+len(w)], w) {
			longest = len(w)
		}
	}
	return longest
}

func equal(a, b []rune) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mask replaces every rune of every banned word in text with r, and reports
// whether anything changed.
func (m *matcher) mask(text string, r rune) (string, bool) {
	orig := []rune(text)
	low := lower([]rune(text))
	changed := false
	for i, end := 0, 0; i < len(low); i++ {
		if n := m.matchAt(low, i); n > 0 {
			end = max(end, i+n)
		}
		if i < end && orig[i] != r {
			orig[i] = r
			changed = true
		}
	}
	return string(orig), changed
}

func main() {}
