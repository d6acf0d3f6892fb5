package tenants

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/sdk/openim"
)

// Result says how Serve answered a callback.
type Result struct {
	// Outcome is metrics.OutcomeOK, OutcomeNeutral, OutcomeStopped or
	// OutcomePolicy.
	Outcome string
	// Plugin names the plugin that stopped the operation or failed.
	Plugin string
	// Err is the last plugin failure, a *plugins.CallError; nil when none
	// failed. A fail-open failure in a chain skips that plugin and Outcome is
	// still OutcomePolicy.
	Err error
}

// bufPool recycles the buffers plugins write their replies into and the
// re-encoded requests of multi-plugin chains.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Serve runs the callback through t's plugin chain for cmd and appends the
// reply for OpenIM to dst. The reply is always one OpenIM can decode: a
// plugin's reply is decoded and encoded again, and a failure answers with the
// tenant's failure policy for cmd.
//
// For a before-command the plugins run in the tenant's order: the first that
// stops the operation (actionCode 0, nextCode 1) answers; the modifications of
// each are applied to the request the next one sees and merged into the
// reply. A fail-open failure skips the failed plugin; a fail-closed one
// answers the stop reply of the policy at once. For an after-command every
// plugin runs on the original request and the reply is the neutral one
// (OpenIM ignores it); failures are counted.
//
// req is the parsed body; Serve may change it (modifications carry forward).
// ctx bounds the whole chain and must not come from a fasthttp.RequestCtx.
// opID is OpenIM's operationID, added to the plugins' log lines.
func (d *Directory) Serve(ctx context.Context, t *Live, cmd openim.Command, req openim.Request, body, dst, opID []byte) ([]byte, Result) {
	chain := t.chain(cmd)
	if len(chain) == 0 {
		return openim.AppendNeutral(dst, cmd, req), Result{Outcome: metrics.OutcomeNeutral}
	}
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	// The guests' log lines carry the operationID (opHandler).
	ctx = withOperationID(ctx, opID)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)

	if cmd.Phase() == openim.After {
		res := Result{Outcome: metrics.OutcomeOK}
		for _, p := range chain {
			raw, err := d.call(ctx, t, cmd, p, req, body, (*bp)[:0])
			if raw != nil {
				*bp = raw[:0] // keep the grown buffer
			}
			if err != nil {
				d.failed(t, cmd, p, err)
				res = Result{Outcome: metrics.OutcomePolicy, Plugin: p.Name(), Err: err}
			}
		}
		return openim.AppendNeutral(dst, cmd, req), res
	}

	var (
		res   = Result{Outcome: metrics.OutcomeOK}
		final openim.Reply // merged modifications; nil while every plugin was neutral
		in    = body       // what the next plugin sees
		inBuf *[]byte      // holds in once a plugin modified the request
	)
	defer func() {
		if inBuf != nil {
			bufPool.Put(inBuf)
		}
	}()
	for i, p := range chain {
		raw, err := d.call(ctx, t, cmd, p, req, in, (*bp)[:0])
		if raw != nil {
			*bp = raw[:0]
		}
		var rep openim.Reply
		if err == nil && raw != nil {
			rep = openim.NewReply(cmd)
			if derr := rep.DecodeJSON(raw); derr != nil {
				err = &plugins.CallError{Kind: plugins.KindBadReply, Tenant: t.ID, Plugin: p.Name(), Command: cmd.String(),
					Err: fmt.Errorf("reply is not a valid %s reply: %w", cmd, derr)}
			}
		}
		if err != nil {
			d.failed(t, cmd, p, err)
			if t.Policy(cmd).Closed {
				return t.PolicyReply(dst, cmd, req, in, err), Result{Outcome: metrics.OutcomePolicy, Plugin: p.Name(), Err: err}
			}
			res = Result{Outcome: metrics.OutcomePolicy, Plugin: p.Name(), Err: err}
			continue
		}
		if rep == nil {
			continue // neutral: nothing to carry forward
		}
		if c := rep.Common(); c.ActionCode == 0 && c.NextCode == 1 {
			return rep.AppendJSON(dst), Result{Outcome: metrics.OutcomeStopped, Plugin: p.Name()}
		}
		if final == nil {
			final = rep
		} else {
			openim.Merge(final, rep)
		}
		if i < len(chain)-1 {
			openim.Apply(req, rep)
			if inBuf == nil {
				inBuf = bufPool.Get().(*[]byte)
			}
			*inBuf = req.AppendJSON((*inBuf)[:0])
			in = *inBuf
		}
	}
	if final == nil {
		return openim.AppendNeutral(dst, cmd, req), res
	}
	return final.AppendJSON(dst), res
}

// call runs one plugin. When the plugin was closed by a swap between the
// snapshot read and the call, it runs the plugin of the same name in the
// current snapshot instead, as often as that happens: each round reads a
// newer snapshot, and a plugin is closed only after it left the snapshot, so
// the loop ends at a live plugin unless swaps keep outpacing the call, which
// the call's deadline bounds. If the plugin no longer handles cmd, the answer
// is neutral (a nil reply).
//
// req is the request and body its JSON; a plugin built with the SDK receives
// req in the wire format instead of body (plugins.Plugin.CallRequest).
func (d *Directory) call(ctx context.Context, t *Live, cmd openim.Command, p *plugins.Plugin, req openim.Request, body, dst []byte) ([]byte, error) {
	for {
		raw, info, err := p.CallRequest(ctx, req, body, dst)
		d.opt.Metrics.Instructions(t.ID, cmd.String(), info.Instructions)
		if err == nil || !errors.Is(err, plugins.ErrClosed) || ctx.Err() != nil {
			return raw, err
		}
		next := d.replacement(t.ID, cmd, p)
		if next == nil {
			return nil, nil
		}
		p = next
	}
}

// replacement returns the plugin that serves cmd under closed's name in the
// current snapshot, or nil when there is none (the plugin was removed or no
// longer handles cmd).
func (d *Directory) replacement(tenantID string, cmd openim.Command, closed *plugins.Plugin) *plugins.Plugin {
	cur, ok := (*d.snap.Load())[tenantID]
	if !ok {
		return nil
	}
	for _, q := range cur.chain(cmd) {
		if q.Name() == closed.Name() && q != closed {
			return q
		}
	}
	return nil
}

// failed counts and logs one plugin failure.
func (d *Directory) failed(t *Live, cmd openim.Command, p *plugins.Plugin, err error) {
	kind := plugins.KindOf(err).String()
	if errors.Is(err, context.Canceled) {
		kind = "canceled"
	}
	d.opt.Metrics.Failure(t.ID, cmd.String(), kind)
}
