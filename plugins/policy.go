package plugins

import (
	"encoding/json"
	"strconv"
)

// Policy is a tenant's failure policy for one command: what the host answers
// OpenIM when a call fails (any *CallError, including a guest's own error).
// The zero value is fail-open.
//
// Fail-open answers the command's neutral reply, so OpenIM carries on as if no
// webhook were configured. Fail-closed answers a stop reply
// ({"actionCode":0,"nextCode":1,...}) with ErrCode and ErrMsg, so OpenIM aborts
// the operation; errDlt says "imhook: <kind>". For after-callbacks OpenIM
// ignores the reply, so the policy makes no difference there.
type Policy struct {
	Closed  bool
	ErrCode int32
	ErrMsg  string
}

// AppendReply appends the reply for a call of command that failed with err
// (body is the request, for replies that depend on it) and returns the
// extended buffer.
func (p Policy) AppendReply(dst []byte, command string, body []byte, err error) []byte {
	if !p.Closed {
		return appendNeutral(dst, command, body)
	}
	kind := KindOf(err)
	dlt := "imhook: " + kind.String()
	if kind == 0 {
		dlt = "imhook: error"
	}
	return appendStop(dst, command, p.ErrCode, p.ErrMsg, dlt)
}

// appendNeutral appends the reply that changes nothing: the five common fields
// with actionCode 0 and nextCode 0. Every OpenIM response field beyond those is
// "leave unchanged" when absent, so this is neutral for every command.
//
// TODO(openim): use openim.AppendNeutral once sdk/openim lands.
func appendNeutral(dst []byte, command string, body []byte) []byte {
	return append(dst, `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`...)
}

// appendStop appends a reply that makes OpenIM abort the operation.
//
// TODO(openim): use openim.Stop once sdk/openim lands.
func appendStop(dst []byte, command string, code int32, msg, dlt string) []byte {
	dst = append(dst, `{"actionCode":0,"errCode":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"errMsg":`...)
	dst = appendJSONString(dst, msg)
	dst = append(dst, `,"errDlt":`...)
	dst = appendJSONString(dst, dlt)
	return append(dst, `,"nextCode":1}`...)
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
