package tenants

import (
	"context"
	"errors"

	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/sdk/openim"
)

// Serve runs the callback through t's plugin chain for cmd (chain.Run) and
// appends the reply for OpenIM to dst: always one OpenIM can decode, the
// tenant's failure policy answering for a failed plugin.
//
// req is the parsed body; Serve may change it (modifications carry forward).
// ctx bounds the whole chain and must not come from a fasthttp.RequestCtx.
// opID is OpenIM's operationID, added to the plugins' log lines.
func (d *Directory) Serve(ctx context.Context, t *Live, cmd openim.Command, req openim.Request, body, dst, opID []byte) ([]byte, chain.Result) {
	links := t.chain(cmd)
	if len(links) == 0 {
		return chain.Run(ctx, t, nil, cmd, req, body, t.Policy(cmd), dst)
	}
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	// The guests' log lines carry the operationID (opHandler).
	ctx = withOperationID(ctx, opID)
	return chain.Run(ctx, t, links, cmd, req, body, t.Policy(cmd), dst)
}

// Called implements chain.Hooks: it records the instructions of each call
// and counts failures.
func (t *Live) Called(p chain.Plugin, cmd openim.Command, _ []byte, info plugins.CallInfo, err error) {
	m := t.d.opt.Metrics
	m.Instructions(t.ID, cmd.String(), info.Instructions)
	if err == nil {
		return
	}
	kind := plugins.KindOf(err).String()
	if errors.Is(err, context.Canceled) {
		kind = "canceled"
	}
	m.Failure(t.ID, cmd.String(), kind)
}

// Replacement implements chain.Hooks: the plugin that serves cmd under
// closed's name in the current snapshot, or nil when there is none (the
// plugin was removed or no longer handles cmd).
func (t *Live) Replacement(closed chain.Plugin, cmd openim.Command) chain.Plugin {
	cur, ok := (*t.d.snap.Load())[t.ID]
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
