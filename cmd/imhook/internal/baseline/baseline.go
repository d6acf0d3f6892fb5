// Package baseline is what imhook bench --compare measures imhook against.
//
// Moderation is the native business server: what a tenant would write
// without imhook. It serves the same routes (POST /hooks/{tenant}/{command})
// with a plain fasthttp handler, decodes each callback with encoding/json
// into the OpenIM types, runs the moderation example's logic
// (examples/moderation/rules, the very code the plugin runs) and encodes the
// reply with encoding/json.
//
// Neutral is the second baseline: a handler that only routes and writes each
// command's neutral reply, the floor against which imhook's own cost per
// callback is measured. NoopPlugin is that floor's counterpart inside imhook.
//
//	h, err := baseline.Moderation(map[string]string{"banned_words": "spam"})
//	srv := baseline.NewServer(h)
//	go srv.Serve(ln)
package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/examples/moderation/rules"
	"github.com/imhook/imhook/sdk/openim"
)

// prefix is the path callbacks arrive under, as in imhook.
const prefix = "/hooks/"

// config is the moderation settings, parsed once.
type config struct {
	matcher *rules.Matcher
	rewrite bool
	errCode int32
	errMsg  string
	mask    rune
}

// parse reads the moderation example's configuration keys (see its README)
// with the same parsers the plugin uses.
func parse(cfg map[string]string) (config, error) {
	var (
		c    config
		errs []error
	)
	get := func(key string) (string, bool) { v, ok := cfg[key]; return v, ok }
	wrap := func(key string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("baseline: config[%s]: %w", key, err))
		}
	}
	raw, _ := get(rules.KeyBannedWords)
	c.matcher = rules.NewMatcher(rules.SplitList(raw))
	var err error
	c.rewrite, err = rules.ParseMode(get(rules.KeyMode))
	wrap(rules.KeyMode, err)
	c.errCode, err = rules.ParseErrCode(get(rules.KeyErrCode))
	wrap(rules.KeyErrCode, err)
	c.errMsg, err = rules.ParseErrMsg(get(rules.KeyErrMsg))
	wrap(rules.KeyErrMsg, err)
	c.mask, err = rules.ParseMask(get(rules.KeyMask))
	wrap(rules.KeyMask, err)
	return c, errors.Join(errs...)
}

// Moderation returns the native twin of the moderation example configured
// with cfg (the plugin's configuration keys). It answers the commands the
// plugin handles as the plugin does, and every other command, or a text
// message whose content is not a text element (where the plugin fails and
// imhook's default fail-open policy applies), with the neutral reply.
//
// # Errors
//
// A configuration value is invalid; the message names its key.
func Moderation(cfg map[string]string) (fasthttp.RequestHandler, error) {
	c, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	return func(ctx *fasthttp.RequestCtx) {
		cmd, ok := command(ctx)
		if !ok {
			return
		}
		req := openim.NewRequest(cmd)
		if err := json.Unmarshal(ctx.PostBody(), req); err != nil {
			refuse(ctx, fasthttp.StatusBadRequest, "malformed "+cmd.String()+" body: "+err.Error())
			return
		}
		reply(ctx, c.handle(cmd, req))
	}, nil
}

// handle is the moderation logic of examples/moderation on decoded values.
func (c *config) handle(cmd openim.Command, req openim.Request) any {
	switch r := req.(type) {
	case *openim.BeforeSendSingleMsgReq:
		if stop := c.check(r.ContentType, r.Content); stop != nil {
			return &openim.BeforeSendSingleMsgResp{CommonResp: *stop}
		}
	case *openim.BeforeSendGroupMsgReq:
		if stop := c.check(r.ContentType, r.Content); stop != nil {
			return &openim.BeforeSendGroupMsgResp{CommonResp: *stop}
		}
	case *openim.BeforeMsgModifyReq:
		if text, ok := c.textToCheck(r.ContentType, r.Content, true); ok {
			if masked, changed := c.matcher.Mask(text, c.mask); changed {
				content, _ := json.Marshal(textElem{Content: &masked})
				s := string(content)
				return &openim.BeforeMsgModifyResp{Content: &s}
			}
		}
	}
	return openim.Neutral(cmd, req)
}

// check returns the fields of a refusal when a block-mode text message holds
// a banned word, and nil when the message may go on.
func (c *config) check(contentType int32, content string) *openim.CommonResp {
	text, ok := c.textToCheck(contentType, content, false)
	if !ok || !c.matcher.Contains(text) {
		return nil
	}
	return &openim.CommonResp{ErrCode: c.errCode, ErrMsg: c.errMsg, NextCode: 1}
}

// textElem is the content of a text message: {"content":"hello"}.
type textElem struct {
	Content *string `json:"content"`
}

// textToCheck returns the text of a message that the callback of the mode
// given by inRewrite must check.
func (c *config) textToCheck(contentType int32, content string, inRewrite bool) (string, bool) {
	if contentType != 101 || c.rewrite != inRewrite || c.matcher.Empty() {
		return "", false
	}
	var e textElem
	if err := json.Unmarshal([]byte(content), &e); err != nil || e.Content == nil {
		return "", false // the plugin fails here; fail-open lets the message through
	}
	return *e.Content, true
}

// Neutral returns a handler that routes callbacks like imhook and answers
// each with its command's neutral reply. Only the two commands whose neutral
// reply echoes the request (Command.Echoes) decode the body, with
// encoding/json.
func Neutral() fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		cmd, ok := command(ctx)
		if !ok {
			return
		}
		var req openim.Request
		if cmd.Echoes() {
			req = openim.NewRequest(cmd)
			if err := json.Unmarshal(ctx.PostBody(), req); err != nil {
				refuse(ctx, fasthttp.StatusBadRequest, "malformed "+cmd.String()+" body: "+err.Error())
				return
			}
		}
		bp := bufPool.Get().(*[]byte)
		*bp = append(openim.AppendNeutral((*bp)[:0], cmd, req), '\n')
		ctx.SetContentType(contentType)
		ctx.SetBody(*bp) // copies
		bufPool.Put(bp)
	}
}

// bufPool recycles reply buffers of the neutral handler, as imhook does.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const contentType = "application/json; charset=utf-8"

// command routes POST /hooks/{tenant}/{command}; on a bad route it answers
// and returns false.
func command(ctx *fasthttp.RequestCtx) (openim.Command, bool) {
	rest, ok := bytes.CutPrefix(ctx.Path(), []byte(prefix))
	_, name, found := bytes.Cut(rest, []byte("/"))
	if !ok || !found || !ctx.IsPost() {
		refuse(ctx, fasthttp.StatusNotFound, "callbacks go to POST /hooks/{tenant}/{command}")
		return 0, false
	}
	cmd, ok := openim.Lookup(string(name))
	if !ok {
		refuse(ctx, fasthttp.StatusNotFound, "unknown command["+string(name)+"]")
		return 0, false
	}
	return cmd, true
}

// reply writes v as JSON, with the trailing newline of json.Encoder (and of
// OpenIM's own encoder).
func reply(ctx *fasthttp.RequestCtx, v any) {
	ctx.SetContentType(contentType)
	if err := json.NewEncoder(ctx).Encode(v); err != nil {
		refuse(ctx, fasthttp.StatusInternalServerError, "encode the reply: "+err.Error())
	}
}

// refuse answers a request that is not a well-formed callback with a stop
// reply carrying the reason, like imhook does.
func refuse(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentType)
	_ = json.NewEncoder(ctx).Encode(openim.CommonResp{ErrCode: int32(status), ErrMsg: msg, NextCode: 1})
}

// NewServer returns a fasthttp server for h with the settings imhook's
// webhook listener uses (timeouts, body cap, no Server header), so the
// comparison differs only in the handler.
func NewServer(h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{
		Name:                  "baseline",
		Handler:               h,
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          5 * time.Second,
		IdleTimeout:           60 * time.Second,
		MaxRequestBodySize:    1 << 20,
		NoDefaultServerHeader: true,
		CloseOnShutdown:       true,
	}
}
