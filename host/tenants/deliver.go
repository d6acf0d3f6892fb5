package tenants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/queue"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

// Queued reports whether t's callbacks of cmd go through the queue: an
// after-command some plugin handles, unless the tenant chose inline
// (settings queue.inline). Before-commands always run inline: their reply
// decides the user's action.
func (t *Live) Queued(cmd openim.Command) bool {
	return cmd.Phase() == openim.After && !t.settings.Queue.Inline && t.Handles(cmd)
}

// QueueSettings returns the tenant's queue settings (zero fields: the
// server's defaults).
func (t *Live) QueueSettings() registry.QueueSettings { return t.settings.Queue }

// deliverBufs recycles the reply buffers of deliveries (the reply of an
// after-command is the neutral one, and nobody reads it).
var deliverBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Deliver runs one queued after-callback through its tenant's current
// plugin chain (host/chain.Run, as inline): it is the queue's
// Options.Process. The plugins read the event's ID and attempt through
// abi.FuncDelivery and may ask for a retry through abi.FuncRetry.
//
// A failure is retried (Outcome.Retry) when the plugin asked for it or
// when it is not the plugin's own answer: a trap, a limit, a busy CPU, an
// open breaker. A plain error from the plugin, and an input it can never
// take, are permanent: the event becomes a dead letter at once. An event
// whose tenant was removed, or that no plugin handles any more, is done.
func (d *Directory) Deliver(ctx context.Context, ev *queue.Event) queue.Outcome {
	t, ok := d.Lookup([]byte(ev.Tenant))
	if !ok {
		if !d.Ready() {
			return queue.Outcome{Err: errors.New("tenants are still loading"), Retry: true}
		}
		d.log.Warn("queued event dropped: its tenant was removed", "tenant", ev.Tenant, "event_id", ev.ID, "command", ev.Command)
		return queue.Outcome{}
	}
	cmd, ok := openim.Lookup(ev.Command)
	if !ok {
		return queue.Outcome{Err: fmt.Errorf("unknown command[%s]", ev.Command)}
	}
	links := t.chain(cmd)
	if len(links) == 0 {
		return queue.Outcome{} // no plugin handles it any more: nothing to do
	}
	req, err := openim.ParseRequest(cmd.String(), ev.Body, openim.Limits{MaxBodyBytes: len(ev.Body) + 1})
	if err != nil {
		return queue.Outcome{Err: fmt.Errorf("queued body no longer parses: %w", err)}
	}
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	del := &plugins.Delivery{ID: ev.ID, Attempt: ev.Attempt}
	ctx = plugins.WithDelivery(withOperationID(ctx, bodyOperationID(ev.Body)), del)
	h := &deliveryHooks{Live: t}
	bp := deliverBufs.Get().(*[]byte)
	out, res := chain.Run(ctx, h, links, cmd, req, ev.Body, t.Policy(cmd), (*bp)[:0])
	*bp = out[:0]
	deliverBufs.Put(bp)
	if res.Err == nil {
		return queue.Outcome{}
	}
	asked, after := del.RetryAsked()
	return queue.Outcome{
		Err:   h.err, // a *plugins.CallError: it names the tenant, plugin and command
		Retry: asked || h.transient,
		After: after,
	}
}

// deliveryHooks are t's hooks (metrics, hot-swap replacement) plus a record
// of whether a failure may pass.
type deliveryHooks struct {
	*Live
	transient bool
	err       error // the first failure
}

// Called implements chain.Hooks.
func (h *deliveryHooks) Called(p chain.Plugin, cmd openim.Command, raw []byte, info plugins.CallInfo, err error) {
	h.Live.Called(p, cmd, raw, info, err)
	if err == nil {
		return
	}
	if h.err == nil {
		h.err = err
	}
	switch plugins.KindOf(err) {
	case plugins.KindGuestError, plugins.KindInputSize, plugins.KindInvalidModule:
	default:
		h.transient = true
	}
}

// bodyOperationID finds the operationID field of a callback body for the
// plugins' log lines, or nil.
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

// IDs returns the IDs of the live tenants, sorted.
func (d *Directory) IDs() []string {
	snap := *d.snap.Load()
	out := make([]string, 0, len(snap))
	for id := range snap {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// QueueStatus is a tenant's after-callback queue in its Status: counts from
// the store (all replicas).
type QueueStatus struct {
	Pending          int     `json:"pending"`
	Ready            int     `json:"ready"`
	Delayed          int     `json:"delayed"`
	InFlight         int     `json:"in_flight"`
	Dead             int     `json:"dead"`
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
}
