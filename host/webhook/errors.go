package webhook

import (
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Error codes of imhook's own rejections: 10000 + the HTTP status. They reach
// OpenIM's caller as the errCode of a stopped operation, so a misconfigured
// webhook url or credential shows up in the client's error, not as an opaque
// "response format error".
const (
	CodeBadRequest       = 10400 // malformed JSON, wrong field types, command mismatch
	CodeUnauthorized     = 10401 // missing or wrong HTTP Basic credentials
	CodeForbidden        = 10403 // source address not in the tenant's networks
	CodeNotFound         = 10404 // unknown tenant, command or path
	CodeMethodNotAllowed = 10405 // not a POST
	CodeTooLarge         = 10413 // body over server.max_body_bytes
	CodeUnavailable      = 10503 // shutting down
)

// reject answers a callback imhook cannot serve: a 4xx (or 503) whose JSON
// body is both a readable error and a valid OpenIM reply that stops the
// operation:
//
//	{"actionCode":0,"errCode":10404,"errMsg":"imhook: unknown tenant[x]","errDlt":"...","nextCode":1,"error":"..."}
//
// OpenIM ignores the HTTP status and blocks a before-operation whose reply it
// cannot decode anyway; this way it blocks with our message. Extra keys are
// ignored by OpenIM's decoder. msg must not contain secrets.
func reject(ctx *fasthttp.RequestCtx, status int, code int32, msg, detail string) {
	b := make([]byte, 0, 128+len(msg)+len(detail))
	b = append(b, `{"actionCode":0,"errCode":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"errMsg":`...)
	b = appendString(b, "imhook: "+msg)
	b = append(b, `,"errDlt":`...)
	b = appendString(b, detail)
	b = append(b, `,"nextCode":1,"error":`...)
	b = appendString(b, msg)
	b = append(b, "}\n"...)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentType)
	ctx.SetBody(b)
}

// appendString appends s as a JSON string, with <, > and & escaped as
// OpenIM's own encoder does.
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}
