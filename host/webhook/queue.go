package webhook

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/store/health"
	"github.com/imhook/imhook/sdk/openim"
)

// Enqueuer stores an after-callback durably for its tenant's plugins to
// process later (*queue.Queue). Options.Queue; nil runs every callback
// inline.
type Enqueuer interface {
	Enqueue(ctx context.Context, tenant, command string, body []byte) (*queue.Event, error)
}

// enqueue answers a queued after-callback: the neutral reply once the
// event is durably stored, a 503 that says why when it is not (the tenant's
// queue is full, the store failed), so OpenIM logs the failure rather than
// imhook dropping the event silently.
func (h *Handler) enqueue(ctx *fasthttp.RequestCtx, t *tenants.Live, cmd openim.Command, req openim.Request, body, opID []byte, start time.Time) {
	qctx, cancel := context.WithTimeout(h.base, h.opt.CallTimeout)
	ev, err := h.opt.Queue.Enqueue(qctx, t.ID, cmd.String(), body)
	cancel()
	elapsed := time.Since(start)
	if err != nil {
		outcome, msg := metrics.OutcomeQueueFailed, "tenant["+t.ID+"]: the after-callback could not be queued"
		detail := err.Error()
		if errors.Is(err, queue.ErrFull) {
			outcome, msg = metrics.OutcomeQueueFull, "tenant["+t.ID+"]: after-callback queue full; the event is not kept"
		} else if errors.Is(err, health.ErrDataLost) {
			msg, detail = "imhook's shared store lost data: after-callbacks are not queued until the operator acts", "the imhook operator restores Redis and runs `imhook store accept` (docs/deploy.md)"
		} else if errors.Is(err, queue.ErrClosed) {
			msg, detail = "imhook is shutting down: the after-callback was not queued", "another replica, or this one after its restart, takes it"
		}
		reject(ctx, fasthttp.StatusServiceUnavailable, CodeUnavailable, msg, detail)
		h.opt.Metrics.Call(t.ID, cmd.String(), outcome, elapsed.Seconds())
		h.logLimited(slog.LevelError, logKey{t.ID, outcome}, "after-callback refused: "+msg, slog.String("tenant", t.ID),
			slog.String("command", cmd.String()), slog.String("operation_id", string(opID)), slog.String("err", err.Error()))
		return
	}
	bp := replyPool.Get().(*[]byte)
	*bp = openim.AppendNeutral((*bp)[:0], cmd, req)
	h.reply(ctx, *bp)
	replyPool.Put(bp)
	h.opt.Metrics.Call(t.ID, cmd.String(), metrics.OutcomeQueued, elapsed.Seconds())
	if h.log.Enabled(h.base, -4) {
		h.log.Debug("callback queued", "tenant", t.ID, "command", cmd.String(),
			"operation_id", string(opID), "event_id", ev.ID, "elapsed", elapsed)
	}
}
