// Package webhook is the fasthttp handler OpenIM calls: it routes
// POST /hooks/{tenant}/{command} (and the older forms) to the tenant's live
// plugins, authenticates the caller, bounds concurrency, and always answers
// an authenticated, well-formed callback with a reply OpenIM can decode.
//
// Protocol errors (unknown tenant or command, bad credentials, malformed
// body) get a 4xx whose JSON body is also a stop reply carrying the error
// (see reject); plugin failures and overload get the tenant's failure-policy
// reply with status 200.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/sdk/openim"
)

const contentType = "application/json; charset=utf-8"

// Options configure a Handler.
type Options struct {
	// Directory holds the live tenants. Required.
	Directory *tenants.Directory
	// Metrics records every callback; nil records nothing.
	Metrics *metrics.Metrics
	// Logger receives one line per failed, rejected or policy-answered
	// callback (every callback at debug level); nil discards.
	Logger *slog.Logger
	// MaxConcurrent bounds the callbacks served at once. Past it a callback is
	// answered at once with its tenant's failure-policy reply. Required (>0).
	MaxConcurrent int
	// CallTimeout bounds the plugin chain of one callback. Required (>0).
	CallTimeout time.Duration
	// MaxBodyBytes is handed to the request parser as its size limit.
	MaxBodyBytes int
	// Queue takes the after-callbacks of tenants that queue them
	// (tenants.Live.Queued); nil runs every callback inline (queue.go).
	Queue Enqueuer
	// Tap sees the callbacks the tenant's plugins ran for, and those the
	// failure policy answered because the server was full; nil sees none.
	Tap Tap
}

// Tap watches served callbacks (the tenant's live log and captures). It
// runs on the callback's goroutine after the reply is written: it must not
// block. opID, body and reply are valid only during the call.
type Tap interface {
	Served(t *tenants.Live, cmd openim.Command, opID, body, reply []byte, res chain.Result)
}

// Handler serves callbacks. Build it with New; it is safe for concurrent use.
type Handler struct {
	opt  Options
	log  *slog.Logger
	sem  chan struct{}
	base context.Context // server lifetime: each call's deadline derives from it
	stop context.CancelFunc
	// warned keeps repeating warnings to one line per second per tenant
	// and kind (loglimit.go).
	warned logLimiter
}

// New returns a Handler. Its calls derive their deadlines from a context
// that Close cancels, never from the fasthttp.RequestCtx.
func New(opt Options) (*Handler, error) {
	if opt.Directory == nil || opt.MaxConcurrent < 1 || opt.CallTimeout <= 0 {
		return nil, errors.New("webhook: Options need Directory, MaxConcurrent > 0 and CallTimeout > 0")
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	return &Handler{opt: opt, log: log, sem: make(chan struct{}, opt.MaxConcurrent), base: base, stop: stop}, nil
}

// Close cancels the calls still running (after a graceful shutdown timed out).
func (h *Handler) Close() { h.stop() }

// replyPool recycles reply buffers; SetBody copies out of them.
var replyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Serve is the fasthttp.RequestHandler for the webhook paths. Everything it
// reads from ctx is used before it returns; nothing is kept.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	tenantID, command, ok := route(ctx.Path())
	if !ok {
		reject(ctx, fasthttp.StatusNotFound, CodeNotFound, "no such path: callbacks go to POST /hooks/{tenant}/{command}", "")
		return
	}
	if command == nil {
		// OpenIM before v3.4.2: the command is in the query.
		command = ctx.QueryArgs().Peek("command")
	}
	opID := ctx.Request.Header.Peek("operationID")
	if !ctx.IsPost() {
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+string(ctx.Method())+" not allowed: OpenIM callbacks are POST", "")
		ctx.Response.Header.Set(fasthttp.HeaderAllow, fasthttp.MethodPost)
		return
	}
	t, ok := h.opt.Directory.Lookup(tenantID)
	if !ok && !h.opt.Directory.Ready() {
		// Tenants are not known yet (start-up, or a store that lost data):
		// the tenant may well exist, and OpenIM blocks the user's action on
		// a stop or an error. Answer as the default failure policy would.
		h.notReady(ctx, tenantID, command, opID)
		return
	}
	if !ok {
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusNotFound, CodeNotFound, "unknown tenant["+string(tenantID)+"]", "check the tenant id in the url of OpenIM's webhooks.yml")
		return
	}
	switch checkAuth(ctx, t) {
	case authForbidden:
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusForbidden, CodeForbidden, "tenant["+t.ID+"] does not accept callbacks from "+ctx.RemoteIP().String(), "add the address to the tenant's auth networks")
		return
	case authMissing, authWrong:
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusUnauthorized, CodeUnauthorized, "tenant["+t.ID+"] requires valid HTTP Basic credentials", "put user:password@ in the url of OpenIM's webhooks.yml")
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Basic realm="imhook", charset="UTF-8"`)
		return
	}
	if len(command) == 0 {
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusNotFound, CodeNotFound, "no command: use /hooks/{tenant}/{command} or ?command=", "")
		return
	}
	cmd, ok := openim.Lookup(string(command))
	if !ok {
		if successor, ok := openim.Retired(string(command)); ok {
			h.neutralLegacy(ctx, t, command, successor, opID, errRetired)
			return
		}
		h.rejected(ctx, tenantID, command, opID, fasthttp.StatusNotFound, CodeNotFound, "unknown command["+string(command)+"]", "not an OpenIM callback command")
		return
	}
	legacy := cmd.String() != string(command) // an older OpenIM's name
	body := ctx.PostBody()
	// cmd.String() rather than string(command): same command, no allocation.
	req, err := openim.ParseRequest(cmd.String(), body, openim.Limits{MaxBodyBytes: h.opt.MaxBodyBytes})
	if err != nil {
		status, code := fasthttp.StatusBadRequest, int32(CodeBadRequest)
		if errors.Is(err, openim.ErrTooLarge) {
			status, code = fasthttp.StatusRequestEntityTooLarge, CodeTooLarge
		} else if legacy {
			h.neutralLegacy(ctx, t, command, cmd, opID, err)
			return
		}
		h.rejected(ctx, tenantID, command, opID, status, code, "malformed "+cmd.String()+" body", err.Error())
		return
	}
	if legacy {
		h.opt.Metrics.Legacy(t.ID, string(command), metrics.LegacyRouted)
	}
	if len(opID) == 0 {
		opID = bodyOperationID(body)
	}

	bp := replyPool.Get().(*[]byte)
	defer replyPool.Put(bp)
	start := time.Now()
	if t.Loading(cmd) {
		// Its plugins are still loading at start-up: the tenant's failure
		// policy answers, as for a plugin that cannot run.
		*bp = chain.PolicyReply((*bp)[:0], cmd, req, t.Policy(cmd), errLoading)
		h.reply(ctx, *bp)
		h.opt.Metrics.Call(t.ID, cmd.String(), metrics.OutcomePolicy, time.Since(start).Seconds())
		h.log.Debug("callback answered by the failure policy: the tenant's plugins are still loading",
			"tenant", t.ID, "command", cmd.String(), "operation_id", string(opID))
		return
	}
	// Only callbacks that enter a sandbox take a slot: a neutral reply costs
	// nothing worth bounding.
	if h.opt.Queue != nil && t.Queued(cmd) {
		h.enqueue(ctx, t, cmd, req, body, opID, start) // queue.go
		return
	}
	handled := t.Handles(cmd)
	if handled {
		select {
		case h.sem <- struct{}{}:
		default:
			// Overloaded: answer now rather than queue behind work OpenIM
			// will stop waiting for.
			*bp = chain.PolicyReply((*bp)[:0], cmd, req, t.Policy(cmd), errOverloaded)
			h.reply(ctx, *bp)
			h.opt.Metrics.Call(t.ID, cmd.String(), metrics.OutcomeOverloaded, time.Since(start).Seconds())
			h.warn(logKey{t.ID, "overloaded"}, "callback answered by the failure policy: server.max_concurrent reached",
				slog.String("tenant", t.ID), slog.String("command", cmd.String()), slog.String("operation_id", string(opID)))
			if h.opt.Tap != nil {
				h.opt.Tap.Served(t, cmd, opID, body, *bp, chain.Result{Outcome: metrics.OutcomeOverloaded, Err: errOverloaded})
			}
			return
		}
	}
	cctx := newCallContext(h.base, h.opt.CallTimeout)
	out, res := h.opt.Directory.Serve(cctx, t, cmd, req, body, (*bp)[:0], opID)
	cctx.Close()
	if handled {
		<-h.sem
	}
	*bp = out
	h.reply(ctx, out)
	elapsed := time.Since(start)
	h.opt.Metrics.Call(t.ID, cmd.String(), res.Outcome, elapsed.Seconds())
	if handled && h.opt.Tap != nil {
		h.opt.Tap.Served(t, cmd, opID, body, out, res)
	}

	level := slog.LevelDebug
	if res.Err != nil {
		level = slog.LevelWarn
	}
	if !h.log.Enabled(h.base, level) {
		return
	}
	var suppressed int
	if res.Err != nil && !h.log.Enabled(h.base, slog.LevelDebug) {
		var ok bool
		if ok, suppressed = h.warned.allow(logKey{t.ID, "failed"}); !ok {
			return
		}
	}
	attrs := []slog.Attr{
		slog.String("tenant", t.ID), slog.String("command", cmd.String()),
		slog.String("operation_id", string(opID)), slog.String("outcome", res.Outcome),
		slog.Duration("elapsed", elapsed),
	}
	if key := ctx.QueryArgs().Peek("key"); len(key) > 0 {
		// OpenIM's reply handle for /msg/send_simple_msg, not a secret.
		attrs = append(attrs, slog.String("key", string(key)))
	}
	if res.Plugin != "" {
		attrs = append(attrs, slog.String("plugin", res.Plugin))
	}
	if res.Err != nil {
		attrs = append(attrs, slog.String("err", res.Err.Error()))
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	h.log.LogAttrs(h.base, level, "callback", attrs...)
}

// bodyOperationID finds the operationID field of a callback body, for the log
// lines of a callback that came without the header. It returns a slice of
// body (as sent, escapes included) or nil.
func bodyOperationID(body []byte) []byte {
	const key = `"operationID":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return nil
	}
	v := body[i+len(key):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

// errRetired says why a retired command is answered neutrally.
var errRetired = errors.New("its request has another shape than any current command's")

// neutralLegacy answers a callback under an older OpenIM's command name that
// imhook cannot run, its request shaped otherwise than cmd's, with cmd's
// neutral reply: a rename must not block an old OpenIM's users, as a 4xx
// stop would. It logs and counts the callback, so the operator sees it.
// cmd is never a command whose neutral reply echoes the request.
func (h *Handler) neutralLegacy(ctx *fasthttp.RequestCtx, t *tenants.Live, sent []byte, cmd openim.Command, opID []byte, why error) {
	bp := replyPool.Get().(*[]byte)
	defer replyPool.Put(bp)
	*bp = openim.AppendNeutral((*bp)[:0], cmd, nil)
	h.reply(ctx, *bp)
	h.opt.Metrics.Call(t.ID, cmd.String(), metrics.OutcomeNeutral, 0)
	h.opt.Metrics.Legacy(t.ID, string(sent), metrics.LegacyNeutral)
	h.warn(logKey{t.ID, "legacy"}, "callback under an older OpenIM's command name answered with the neutral reply; no plugin ran",
		slog.String("tenant", t.ID), slog.String("command", string(sent)), slog.String("current_command", cmd.String()),
		slog.String("operation_id", string(opID)), slog.String("err", why.Error()))
}

// errLoading is the failure the policy reply of a callback reports while
// the tenant's plugins load at start-up.
var errLoading = errors.New("imhook is starting: the tenant's plugins are still loading")

// notReady answers a callback for a tenant this replica does not know yet
// because it has not loaded the registry: 200 with the command's neutral
// reply (the default failure policy), or the 400 a malformed body gets
// anyway. The load balancer should not send it any (/readyz is 503).
func (h *Handler) notReady(ctx *fasthttp.RequestCtx, tenant, command, opID []byte) {
	if len(command) == 0 {
		command = ctx.QueryArgs().Peek("command")
	}
	cmd, ok := openim.Lookup(string(command))
	if !ok {
		cmd, ok = openim.Retired(string(command))
	}
	if !ok {
		h.rejected(ctx, tenant, command, opID, fasthttp.StatusNotFound, CodeNotFound, "unknown command["+string(command)+"]", "not an OpenIM callback command")
		return
	}
	req, err := openim.ParseRequest(cmd.String(), ctx.PostBody(), openim.Limits{MaxBodyBytes: h.opt.MaxBodyBytes})
	if err != nil {
		// As when ready: the neutral reply of some commands echoes the request.
		status, code := fasthttp.StatusBadRequest, int32(CodeBadRequest)
		if errors.Is(err, openim.ErrTooLarge) {
			status, code = fasthttp.StatusRequestEntityTooLarge, CodeTooLarge
		}
		h.rejected(ctx, tenant, command, opID, status, code, "malformed "+cmd.String()+" body", err.Error())
		return
	}
	bp := replyPool.Get().(*[]byte)
	defer replyPool.Put(bp)
	*bp = openim.AppendNeutral((*bp)[:0], cmd, req)
	h.reply(ctx, *bp)
	h.opt.Metrics.NotReady()
	h.log.Debug("callback answered with the neutral reply: tenants not loaded yet",
		"tenant", string(tenant), "command", string(command), "operation_id", string(opID))
}

// errOverloaded is the failure the policy reply of an overloaded callback
// reports (errDlt "imhook: instances" when fail-closed).
var errOverloaded error = &plugins.CallError{Kind: plugins.KindInstances, Err: errors.New("server.max_concurrent reached")}

// reply writes a 200 with the JSON reply and the newline OpenIM's own
// encoder ends with.
func (h *Handler) reply(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentType)
	ctx.SetBody(body) // copies
	if n := len(body); n == 0 || body[n-1] != '\n' {
		ctx.Response.AppendBodyString("\n")
	}
}

// rejected answers and logs a callback imhook refuses.
func (h *Handler) rejected(ctx *fasthttp.RequestCtx, tenant, command, opID []byte, status int, code int32, msg, detail string) {
	reject(ctx, status, code, msg, detail)
	label := "unknown"
	if c, ok := openim.Lookup(string(command)); ok {
		label = c.String()
	}
	known := ""
	if t, ok := h.opt.Directory.Lookup(tenant); ok {
		// Label only real tenants: unknown ids would be unbounded.
		h.opt.Metrics.Call(t.ID, label, metrics.OutcomeRejected, 0)
		known = t.ID
	}
	h.warn(logKey{known, "rejected " + strconv.Itoa(status)}, "callback rejected", slog.String("tenant", string(tenant)),
		slog.String("command", string(command)), slog.String("operation_id", string(opID)), slog.Int("status", status), slog.String("err", msg))
}

// warn writes a warning of the stream k unless one was written within
// logEvery (loglimit.go); the line says how many it stands for.
func (h *Handler) warn(k logKey, msg string, attrs ...slog.Attr) {
	h.logLimited(slog.LevelWarn, k, msg, attrs...)
}

// logLimited is warn at any level.
func (h *Handler) logLimited(level slog.Level, k logKey, msg string, attrs ...slog.Attr) {
	if !h.log.Enabled(h.base, level) {
		return
	}
	var suppressed int
	if !h.log.Enabled(h.base, slog.LevelDebug) { // debug asks for every line
		var ok bool
		if ok, suppressed = h.warned.allow(k); !ok {
			return
		}
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	h.log.LogAttrs(h.base, level, msg, attrs...)
}

// ErrorHandler is the fasthttp.Server ErrorHandler: it answers requests that
// failed before reaching Serve (oversized or unreadable bodies, bad request
// lines) with the same JSON error shape. A connection that sent no whole
// request within server.read_timeout is closed without one: nobody asked,
// and an unsolicited stop reply only confuses whoever reads it.
func (h *Handler) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// fasthttp writes whatever this handler leaves; a closed connection
		// takes nothing.
		_ = ctx.Conn().Close()
		h.log.Debug("connection closed: no request within server.read_timeout", "remote", ctx.RemoteAddr().String(), "err", err)
		return
	}
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		reject(ctx, fasthttp.StatusRequestEntityTooLarge, CodeTooLarge, "request body too large", "server.max_body_bytes is the limit")
	} else {
		reject(ctx, fasthttp.StatusBadRequest, CodeBadRequest, "cannot read the request", err.Error())
	}
	h.warn(logKey{"", "unreadable"}, "callback rejected before routing", slog.String("path", string(ctx.Path())), slog.Any("err", err))
}
