package openim

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRequestErrors(t *testing.T) {
	t.Parallel()
	const single = "callbackBeforeSendSingleMsgCommand"
	tests := []struct {
		name string
		url  string
		body string
		lim  Limits
		is   error
		msg  string // full message
	}{
		{
			name: "docs example with trailing comma",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","seq":1,}`,
			is:   ErrSyntax,
			msg:  `openim: invalid JSON at offset 64: trailing comma before '}'`,
		},
		{
			name: "trailing comma in array",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","atUserList":["a",]}`,
			is:   ErrSyntax,
			msg:  `openim: invalid JSON at offset 74: trailing comma before ']'`,
		},
		{
			name: "string for uint32",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","seq":"0"}`,
			is:   ErrType,
			msg:  `openim: field "seq": want uint32, got string`,
		},
		{
			name: "negative uint32",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","seq":-1}`,
			is:   ErrType,
			msg:  `openim: field "seq": want uint32, got number -1`,
		},
		{
			name: "float for int32",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","contentType":101.0}`,
			is:   ErrType,
			msg:  `openim: field "contentType": want int32, got number 101.0`,
		},
		{
			name: "int32 overflow",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","contentType":2147483648}`,
			is:   ErrType,
			msg:  `openim: field "contentType": want int32, got number 2147483648 (out of range)`,
		},
		{
			name: "nested path",
			url:  "callbackBeforeUserRegisterCommand",
			body: `{"callbackCommand":"callbackBeforeUserRegisterCommand","users":[{"userID":"a"},{"userID":"b"},{"nickname":7}]}`,
			is:   ErrType,
			msg:  `openim: field "users[2].nickname": want string, got number`,
		},
		{
			name: "type error reported after later syntax error, as encoding/json",
			url:  single,
			body: `{"seq":"x","callbackCommand":"callbackBeforeSendSingleMsgCommand",}`,
			is:   ErrSyntax,
			msg:  `openim: invalid JSON at offset 66: trailing comma before '}'`,
		},
		{
			name: "trailing garbage",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand"} x`,
			is:   ErrSyntax,
			msg:  `openim: invalid JSON at offset 57: unexpected 'x' after top-level value`,
		},
		{
			name: "truncated",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand"`,
			is:   ErrSyntax,
			msg:  `openim: invalid JSON at offset 55: unexpected end of input`,
		},
		{
			name: "not an object",
			url:  single,
			body: `[1]`,
			is:   ErrType,
			msg:  `openim: body: want object, got array`,
		},
		{
			name: "body command mismatch",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendGroupMsgCommand"}`,
			is:   ErrCommandMismatch,
			msg:  `openim: body callbackCommand "callbackBeforeSendGroupMsgCommand" does not match URL command "callbackBeforeSendSingleMsgCommand"`,
		},
		{
			name: "missing body command",
			url:  single,
			body: `{}`,
			is:   ErrCommandMismatch,
			msg:  `openim: body callbackCommand "" does not match URL command "callbackBeforeSendSingleMsgCommand"`,
		},
		{
			name: "null body",
			url:  single,
			body: `null`,
			is:   ErrCommandMismatch,
			msg:  `openim: body callbackCommand "" does not match URL command "callbackBeforeSendSingleMsgCommand"`,
		},
		{
			name: "unknown command",
			url:  "callbackBeforeTeleportCommand",
			body: `{}`,
			is:   ErrUnknownCommand,
			msg:  `openim: unknown command "callbackBeforeTeleportCommand"`,
		},
		{
			name: "string too long",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","content":"` + strings.Repeat("x", 65) + `"}`,
			lim:  Limits{MaxStringBytes: 64},
			is:   ErrTooLarge,
			msg:  `openim: field "content": string of 65 bytes exceeds the limit of 64 bytes per string`,
		},
		{
			name: "string over the default limit",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","content":"` + strings.Repeat("x", 300_000) + `"}`,
			is:   ErrTooLarge,
			msg:  `openim: field "content": string of 300000 bytes exceeds the limit of 262144 bytes (256 KiB) per string`,
		},
		{
			name: "array too long",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","atUserList":["a","b","c"]}`,
			lim:  Limits{MaxArrayLen: 2},
			is:   ErrTooLarge,
			msg:  `openim: field "atUserList": more than 2 elements, the limit per array`,
		},
		{
			name: "body too long",
			url:  single,
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand"}`,
			lim:  Limits{MaxBodyBytes: 10},
			is:   ErrTooLarge,
			msg:  `openim: body: 56 bytes exceed the limit of 10`,
		},
		{
			name: "number for string",
			url:  "callbackBeforeMsgModifyCommand",
			body: `{"callbackCommand":"callbackBeforeMsgModifyCommand","ex":5}`,
			is:   ErrType,
			msg:  `openim: field "ex": want string, got number`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRequest(tt.url, []byte(tt.body), tt.lim)
			if err == nil {
				t.Fatal("ParseRequest accepted the body")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}

func TestParseRequestAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		body string
		want string // re-encoded request
	}{
		{
			name: "legacy body command",
			url:  "callbackAfterGroupMsgReadCommand",
			body: `{"callbackCommand":"callbackGroupMsgReadCommand","sendID":"u"}`,
			want: `{"callbackCommand":"callbackGroupMsgReadCommand","sendID":"u","receiveID":"","unreadMsgNum":0,"contentType":0}`,
		},
		{
			name: "legacy URL command",
			url:  "callbackGroupMsgReadCommand",
			body: `{"callbackCommand":"callbackAfterGroupMsgReadCommand"}`,
			want: `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"","receiveID":"","unreadMsgNum":0,"contentType":0}`,
		},
		{
			name: "unknown keys ignored, duplicates last wins, case-insensitive keys",
			url:  "callbackAfterGroupMsgReadCommand",
			body: ` {"callbackCommand":"callbackAfterGroupMsgReadCommand","new":{"a":[1,{"b":null}]},"SENDID":"x","sendID":"y","unreadMsgNum":1,"unreadMsgNum":2} ` + "\n",
			want: `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"y","receiveID":"","unreadMsgNum":2,"contentType":0}`,
		},
		{
			name: "escapes, surrogates and invalid UTF-8",
			url:  "callbackAfterGroupMsgReadCommand",
			body: "{\"callbackCommand\":\"callbackAfterGroupMsgReadCommand\",\"sendID\":\"\\ud83d\\ude00 \\ud800 \\u00e9\\n<&> \xff\"}",
			want: "{\"callbackCommand\":\"callbackAfterGroupMsgReadCommand\",\"sendID\":\"\U0001F600 \ufffd \u00e9\\n\\u003c\\u0026\\u003e \ufffd\",\"receiveID\":\"\",\"unreadMsgNum\":0,\"contentType\":0}",
		},
		{
			name: "null leaves zero, nulls for lists",
			url:  "callbackBeforeSendSingleMsgCommand",
			body: `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","seq":null,"atUserList":null,"content":null}`,
			want: `{"sendID":"","callbackCommand":"callbackBeforeSendSingleMsgCommand","serverMsgID":"","clientMsgID":"","operationID":"","senderPlatformID":0,"senderNickname":"","sessionType":0,"msgFrom":0,"contentType":0,"status":0,"sendTime":0,"createTime":0,"content":"","seq":0,"atUserList":null,"faceURL":"","ex":"","recvID":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := ParseRequest(tt.url, []byte(tt.body), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(req.AppendJSON(nil)); got != tt.want {
				t.Errorf("re-encoded\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestDecodeReplyErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		is   error
		msg  string
	}{
		{"nextCode as a string, as some OpenIM docs show", `{"actionCode":0,"nextCode":"0"}`, ErrType, `openim: field "nextCode": want int32, got string`},
		{"bad base64", `{"msgDataList":"!!!"}`, ErrType, `openim: field "msgDataList": want base64 string: illegal base64 data at input byte 0`},
		{"options value not bool", `{"options":{"a":1}}`, ErrType, `openim: field "options.a": want bool, got number`},
		{"push info not object", `{"offlinePushInfo":[]}`, ErrType, `openim: field "offlinePushInfo": want object, got array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r BeforeMsgModifyResp
			err := r.DecodeJSON([]byte(tt.body))
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if err.Error() != tt.msg {
				t.Errorf("message\n got %s\nwant %s", err, tt.msg)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Offset <= 0 {
				t.Errorf("not a *FieldError with an offset: %#v", err)
			}
		})
	}
}

func TestUnicodeKeyFolding(t *testing.T) {
	t.Parallel()
	// encoding/json folds keys with Unicode simple folding: U+017F (long s)
	// matches 's' and U+212A (Kelvin sign) matches 'k'.
	tests := []string{
		`{"callbackCommand":"c","ſendID":"x"}`,
		`{"callbackCommand":"c","SENDid":"x"}`,
		`{"callbackCommand":"c","sendı":"x"}`, // dotless i does not fold to i
	}
	for _, body := range tests {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			var r AfterSendSingleMsgReq
			checkAgainstStd(t, []byte(body), &r)
			checkAgainstStd(t, []byte("{\"remar\u212a\":\"k\"}"), new(BeforeSetFriendRemarkResp))
		})
	}
}

func TestKelvinKey(t *testing.T) {
	t.Parallel()
	var r BeforeSetFriendRemarkResp
	if err := r.DecodeJSON([]byte("{\"remar\u212a\":\"k\"}")); err != nil || r.Remark != "k" {
		t.Errorf("Remark = %q, %v; want the Kelvin-sign key to match", r.Remark, err)
	}
	var s AfterSendSingleMsgReq
	if err := s.DecodeJSON([]byte(`{"ſendID":"x"}`)); err != nil || s.SendID != "x" {
		t.Errorf("SendID = %q, %v; want the long-s key to match", s.SendID, err)
	}
}
