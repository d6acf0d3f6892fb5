// Package chain runs one OpenIM callback through a tenant's plugins and
// builds every reply imhook sends OpenIM for it: the plugins' merged reply,
// the command's neutral reply, and the failure policy's reply.
//
// The webhook path (host/tenants) and the dry runs (the admin API's test
// route, imhook run) all call Run, so a dry run answers exactly what a
// callback would. It is the only place that decides how a plugin's result
// becomes a reply; webhook rejections (unknown tenant, bad body) are not
// plugin results and stay in host/webhook.
package chain

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

// Plugin is what Run needs of a loaded plugin; *plugins.Plugin implements
// it. Tests drive Run with their own.
type Plugin interface {
	Name() string
	Tenant() string
	// Info tells whether the module accepts requests in the wire format.
	Info() plugins.ModuleInfo
	// Call runs the plugin on a JSON body, CallWire on a request in the
	// wire format (only for a module whose Info().WireInput is true).
	Call(ctx context.Context, command string, body, dst []byte) ([]byte, plugins.CallInfo, error)
	CallWire(ctx context.Context, command string, wire, dst []byte) ([]byte, plugins.CallInfo, error)
}

// Hooks lets the caller watch each plugin call and replace a plugin a hot
// swap closed. Run calls them on its own goroutine.
type Hooks interface {
	// Called reports one plugin call: its raw reply (nil for none), what it
	// used, and its failure, a *plugins.CallError (a reply that does not
	// decode is KindBadReply) or nil.
	Called(p Plugin, cmd openim.Command, raw []byte, info plugins.CallInfo, err error)
	// Replacement returns the plugin now serving cmd under closed's name,
	// or nil when there is none; Run calls it when a call failed with
	// plugins.ErrClosed.
	Replacement(closed Plugin, cmd openim.Command) Plugin
}

// Result says how Run answered.
type Result struct {
	// Outcome is metrics.OutcomeOK, OutcomeNeutral, OutcomeStopped or
	// OutcomePolicy.
	Outcome string
	// Plugin names the plugin that stopped the operation or failed.
	Plugin string
	// Err is the last plugin failure, a *plugins.CallError; nil when none
	// failed. A fail-open failure in a chain skips that plugin and Outcome
	// is still OutcomePolicy.
	Err error
}

// bufPool recycles the buffers plugins write their replies into and the
// re-encoded requests of multi-plugin chains.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Run runs the callback through chain, the plugins that handle cmd in the
// tenant's order, and appends the reply for OpenIM to dst. The reply is
// always one OpenIM can decode: a plugin's reply is decoded and encoded
// again, and a failure answers with policy.
//
// For a before-command the plugins run in order: the first that stops the
// operation (actionCode 0, nextCode 1) answers; the modifications of each
// are applied to the request the next one sees and merged into the reply. A
// fail-open failure skips the failed plugin; a fail-closed one answers the
// policy's stop reply at once. For an after-command every plugin runs on the
// original request and the reply is the neutral one (OpenIM ignores it);
// failures are reported to hooks and in the Result.
//
// req is the parsed body; Run may change it (modifications carry forward).
// ctx bounds the whole chain.
func Run(ctx context.Context, h Hooks, chain []Plugin, cmd openim.Command, req openim.Request, body []byte, policy registry.Policy, dst []byte) ([]byte, Result) {
	if len(chain) == 0 {
		return openim.AppendNeutral(dst, cmd, req), Result{Outcome: metrics.OutcomeNeutral}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)

	if cmd.Phase() == openim.After {
		res := Result{Outcome: metrics.OutcomeOK}
		for _, p := range chain {
			raw, info, err := call(ctx, h, cmd, &p, req, body, (*bp)[:0])
			h.Called(p, cmd, raw, info, err)
			if raw != nil {
				*bp = raw[:0] // keep the grown buffer
			}
			if err != nil {
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
		raw, info, err := call(ctx, h, cmd, &p, req, in, (*bp)[:0])
		var rep openim.Reply
		if err == nil && raw != nil {
			rep, err = decodeReply(cmd, p, raw)
		}
		h.Called(p, cmd, raw, info, err)
		if raw != nil {
			*bp = raw[:0]
		}
		if err != nil {
			if policy.Closed {
				return PolicyReply(dst, cmd, req, policy, err), Result{Outcome: metrics.OutcomePolicy, Plugin: p.Name(), Err: err}
			}
			res = Result{Outcome: metrics.OutcomePolicy, Plugin: p.Name(), Err: err}
			continue
		}
		if rep == nil {
			continue // neutral: nothing to carry forward
		}
		if rep.Common().Stopped() {
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

// decodeReply decodes a plugin's reply as OpenIM would; a reply that does
// not decode is a KindBadReply failure.
func decodeReply(cmd openim.Command, p Plugin, raw []byte) (openim.Reply, error) {
	rep := openim.NewReply(cmd)
	if err := rep.DecodeJSON(raw); err != nil {
		return nil, &plugins.CallError{Kind: plugins.KindBadReply, Tenant: p.Tenant(), Plugin: p.Name(), Command: cmd.String(),
			Err: fmt.Errorf("reply is not a valid %s reply (OpenIM would fail the operation): %w", cmd, err)}
	}
	return rep, nil
}

// call runs one plugin, in the wire format when it accepts it. When the
// plugin was closed by a hot swap between the caller's snapshot read and the
// call, it runs the replacement instead, as often as that happens: each
// round reads a newer snapshot, and a plugin is closed only after it left
// the snapshot, so the loop ends at a live plugin unless swaps keep
// outpacing the call, which ctx bounds. Without a replacement the answer is
// neutral (a nil reply). *p is left at the plugin that answered.
//
// req is the request and body its JSON.
func call(ctx context.Context, h Hooks, cmd openim.Command, p *Plugin, req openim.Request, body, dst []byte) ([]byte, plugins.CallInfo, error) {
	for {
		raw, info, err := callOnce(ctx, cmd, *p, req, body, dst)
		if err == nil || !errors.Is(err, plugins.ErrClosed) || ctx.Err() != nil {
			return raw, info, err
		}
		next := h.Replacement(*p, cmd)
		if next == nil {
			return nil, info, nil
		}
		*p = next
	}
}

// wireBufs holds the scratch buffers requests are encoded into in the wire
// format before they are copied into the guest.
var wireBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledWire keeps an occasional huge request from pinning its buffer.
const maxPooledWire = 64 << 10

// callOnce hands a plugin that accepts the wire format (every module built
// with the Go SDK) req in it, which it decodes several times faster than
// JSON; any other plugin gets body.
func callOnce(ctx context.Context, cmd openim.Command, p Plugin, req openim.Request, body, dst []byte) ([]byte, plugins.CallInfo, error) {
	if !p.Info().WireInput {
		return p.Call(ctx, cmd.String(), body, dst)
	}
	bp := wireBufs.Get().(*[]byte)
	*bp = req.AppendWire((*bp)[:0])
	raw, info, err := p.CallWire(ctx, cmd.String(), *bp, dst)
	if cap(*bp) <= maxPooledWire {
		wireBufs.Put(bp)
	}
	return raw, info, err
}

// PolicyReply appends the reply of policy for a callback of cmd that failed
// with err: the neutral reply (echoing req where the command needs it) when
// fail-open or for an after-command, whose reply OpenIM ignores; the
// policy's stop reply, with errDlt "imhook: <failure kind>", when
// fail-closed.
func PolicyReply(dst []byte, cmd openim.Command, req openim.Request, policy registry.Policy, err error) []byte {
	if !policy.Closed || cmd.Phase() == openim.After {
		return openim.AppendNeutral(dst, cmd, req)
	}
	dlt := "imhook: error"
	if kind := plugins.KindOf(err); kind != 0 {
		dlt = "imhook: " + kind.String()
	}
	return openim.Stop(cmd, policy.ErrCode, policy.ErrMsg, dlt).AppendJSON(dst)
}
