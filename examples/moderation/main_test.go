package main

import (
	"strings"
	"testing"

	"github.com/imhook/imhook/examples/moderation/rules"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/plugin/textmsg"
	"github.com/imhook/imhook/sdk/sdktest"
)

// outcome is what a callback came to, in a form tests can compare.
type outcome struct {
	stopped bool
	code    int32
	msg     string
	content string // the rewritten content, for message-modify replies
	err     string
}

func single(contentType int32, content string) *openim.BeforeSendSingleMsgReq {
	req := &openim.BeforeSendSingleMsgReq{RecvID: "user_b"}
	req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 1
	return req
}

func group(contentType int32, content string) *openim.BeforeSendGroupMsgReq {
	req := &openim.BeforeSendGroupMsgReq{GroupID: "3917201845"}
	req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 3
	return req
}

func modify(contentType int32, content string) *openim.BeforeMsgModifyReq {
	req := &openim.BeforeMsgModifyReq{}
	req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = "user_a", "m1", contentType, content, 1
	return req
}

func text(s string) string { return textmsg.Encode(s) }

// run sends req through the plugin's registered handler and summarises the reply.
func run(t *testing.T, config map[string]string, req openim.Request) outcome {
	t.Helper()
	h := sdktest.New(t, config)
	var (
		reply openim.Reply
		err   error
	)
	switch req.(type) {
	case *openim.BeforeSendSingleMsgReq:
		reply, err = asReply(sdktest.Do[openim.BeforeSendSingleMsgResp](h, req))
	case *openim.BeforeSendGroupMsgReq:
		reply, err = asReply(sdktest.Do[openim.BeforeSendGroupMsgResp](h, req))
	case *openim.BeforeMsgModifyReq:
		reply, err = asReply(sdktest.Do[openim.BeforeMsgModifyResp](h, req))
	}
	var o outcome
	if err != nil {
		o.err = err.Error()
		return o
	}
	if reply == nil {
		return o
	}
	o.stopped = plugin.Stopped(reply)
	o.code, o.msg = reply.Common().ErrCode, reply.Common().ErrMsg
	if m, ok := reply.(*openim.BeforeMsgModifyResp); ok && m.Content != nil {
		o.content = *m.Content
	}
	return o
}

// asReply turns a typed reply into the interface, keeping nil nil.
func asReply[P interface {
	comparable
	openim.Reply
}](r P, err error) (openim.Reply, error) {
	var zero P
	if r == zero {
		return nil, err
	}
	return r, err
}

func TestModeration(t *testing.T) {
	t.Parallel()
	blocked := outcome{stopped: true, code: rules.DefaultErrCode, msg: rules.DefaultErrMsg}
	words := map[string]string{"banned_words": "spam, Scam ,,"}
	rewriting := map[string]string{"banned_words": "spam,scam,sc", "mode": "rewrite"}
	tests := []struct {
		name   string
		config map[string]string
		req    openim.Request
		want   outcome
	}{
		{"single blocked", words, single(101, text("buy SPAM now")), blocked},
		{"group blocked", words, group(101, text("a scam!")), blocked},
		{"single clean", words, single(101, text("hello")), outcome{}},
		{"group clean", words, group(101, text("hello")), outcome{}},
		{"only text is checked", words, single(102, `{"sourcePicture":{"url":"spam.png"}}`), outcome{}},
		{"no banned words configured", nil, single(101, text("spam")), outcome{}},
		{"unicode case folding", map[string]string{"banned_words": "ÄRGER"}, group(101, text("kein ärger")), blocked},
		{"custom error", map[string]string{"banned_words": "spam", "err_code": "30001", "err_msg": "no spam here"},
			single(101, text("spam")), outcome{stopped: true, code: 30001, msg: "no spam here"}},
		{"empty err_msg means default", map[string]string{"banned_words": "spam", "err_msg": ""}, single(101, text("spam")), blocked},
		{"block mode leaves modify alone", words, modify(101, text("spam")), outcome{}},
		{"rewrite mode lets sends through", rewriting, single(101, text("spam")), outcome{}},
		{"rewrite masks words", rewriting, modify(101, text("Spam and scams")),
			outcome{content: text("**** and ****s")}},
		{"rewrite longest and overlapping", map[string]string{"banned_words": "ab,bcd", "mode": "rewrite"}, modify(101, text("xabcdx")),
			outcome{content: text("x****x")}},
		{"rewrite keeps escapes", rewriting, modify(101, text("\"spam\" <b>\n")),
			outcome{content: `{"content":"\"****\" \u003cb\u003e\n"}`}},
		{"rewrite custom mask", map[string]string{"banned_words": "spam", "mode": "rewrite", "mask": "♥"}, modify(101, text("spam!")),
			outcome{content: text("♥♥♥♥!")}},
		{"rewrite clean", rewriting, modify(101, text("hello")), outcome{}},
		{"invalid text content", words, single(101, `hello`),
			outcome{err: "plugin: handler for callbackBeforeSendSingleMsgCommand failed: textmsg: invalid content at offset 0: found 'h', want '{'"}},
		{"invalid mode", map[string]string{"banned_words": "spam", "mode": "delete"}, single(101, text("spam")),
			outcome{err: `plugin: handler for callbackBeforeSendSingleMsgCommand failed: plugin: config[mode]: want "block" or "rewrite", got "delete"`}},
		{"invalid err_code", map[string]string{"banned_words": "spam", "err_code": "x"}, group(101, text("spam")),
			outcome{err: `plugin: handler for callbackBeforeSendGroupMsgCommand failed: plugin: config[err_code]: want a non-zero 32-bit integer, got "x"`}},
		{"zero err_code", map[string]string{"banned_words": "spam", "err_code": "0"}, group(101, text("spam")),
			outcome{err: `plugin: handler for callbackBeforeSendGroupMsgCommand failed: plugin: config[err_code]: want a non-zero 32-bit integer, got "0"`}},
		{"err_code not read for clean messages", map[string]string{"banned_words": "spam", "err_code": "x"}, group(101, text("ok")), outcome{}},
		{"invalid mask", map[string]string{"banned_words": "spam", "mode": "rewrite", "mask": "**"}, modify(101, text("spam")),
			outcome{err: `plugin: handler for callbackBeforeMsgModifyCommand failed: plugin: config[mask]: want one character, got "**"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := run(t, tc.config, tc.req); got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCatalogExample(t *testing.T) {
	t.Parallel()
	// The body exactly as OpenIM's encoder writes it, trailing newline included.
	body := `{"sendID":"user_a","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"a3f1","clientMsgID":"5e8a","operationID":"op","senderPlatformID":1,"senderNickname":"Alice","sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1719812345678,"createTime":1719812345600,"content":"{\"content\":\"free spam\"}","seq":0,"atUserList":null,"faceURL":"https://example.com/a.png","ex":"","recvID":"user_b"}` + "\n"
	h := sdktest.New(t, map[string]string{"banned_words": "spam"})
	reply, err := h.Call("callbackBeforeSendSingleMsgCommand", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"actionCode":0`, `"nextCode":1`, `"errCode":20001`, `"errMsg":"message blocked by moderation"`} {
		if !strings.Contains(string(reply), want) {
			t.Errorf("reply %s lacks %s", reply, want)
		}
	}
	if logs := h.Logs(); len(logs) != 1 || logs[0].Text != "message blocked send_id=user_a recv_id=user_b client_msg_id=5e8a" {
		t.Errorf("logs = %q", logs)
	}
}

func BenchmarkBeforeSendSingle(b *testing.B) {
	h := sdktest.New(b, map[string]string{"banned_words": "spam,scam,phishing"})
	body := single(101, text("hello, this is a fairly ordinary chat message")).AppendJSON(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Call("callbackBeforeSendSingleMsgCommand", body); err != nil {
			b.Fatal(err)
		}
	}
}
