package plugins

import (
	"encoding/json"
	"strconv"

	"github.com/imhook/imhook/sdk/openim"
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
// (body is the request: the neutral reply of two group commands echoes it)
// and returns the
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

// commonNeutral is the neutral reply of a command openim does not know: the
// five common fields, continue.
const commonNeutral = `{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}`

// appendNeutral appends the reply that changes nothing. For the two commands
// whose neutral reply echoes the request (openim.Command.Echoes) it decodes
// body; if that fails it falls back to the common fields, which OpenIM would
// apply as blank group fields, so the host should only call plugins with
// requests it has already decoded.
func appendNeutral(dst []byte, command string, body []byte) []byte {
	c, ok := openim.Lookup(command)
	if !ok {
		return append(dst, commonNeutral...)
	}
	var req openim.Request
	if c.Echoes() {
		req, _ = openim.ParseRequest(command, body, openim.Limits{})
		if req == nil {
			return append(dst, commonNeutral...)
		}
	}
	return openim.AppendNeutral(dst, c, req)
}

// appendStop appends a reply that makes OpenIM abort the operation.
func appendStop(dst []byte, command string, code int32, msg, dlt string) []byte {
	if c, ok := openim.Lookup(command); ok {
		if r := openim.Stop(c, code, msg, dlt); r != nil {
			return r.AppendJSON(dst)
		}
	}
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
