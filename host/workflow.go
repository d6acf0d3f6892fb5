package host

import (
	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/host/metrics"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/sdk/openim"
)

// tap feeds the tenant's workflow from the webhook path (webhook.Tap): a
// failure or a policy answer goes to the tenant's live log, and a callback
// to its captures when it captures.
type tap struct {
	logs    *tenantlog.Store
	capture *capture.Store
}

// Served implements webhook.Tap.
func (w tap) Served(t *tenants.Live, cmd openim.Command, opID, body, reply []byte, res chain.Result) {
	if res.Err != nil {
		policy := "open"
		if t.Policy(cmd).Closed && cmd.Phase() == openim.Before {
			policy = "closed"
		}
		l := tenantlog.Line{Kind: tenantlog.KindFailure, Level: "warn", Plugin: res.Plugin, Command: cmd.String(),
			OperationID: string(opID), Message: res.Err.Error(), Failure: plugins.KindOf(res.Err).String(), Policy: policy}
		if res.Outcome == metrics.OutcomeOverloaded {
			l.Kind = tenantlog.KindPolicy
			l.Message = "answered by the failure policy without running the plugins: the server was at server.max_concurrent"
		}
		for _, v := range t.Versions(cmd) {
			if v.Plugin == res.Plugin && len(v.Version) >= 12 {
				l.Version = v.Version[:12]
			}
		}
		w.logs.Add(t.ID, l)
	}
	if !w.capture.Enabled(t.ID) {
		return
	}
	cb := capture.Callback{Command: cmd.String(), OperationID: string(opID), Reply: reply, Outcome: res.Outcome, Plugin: res.Plugin}
	if res.Err != nil {
		cb.Failure = plugins.KindOf(res.Err).String()
	}
	for _, v := range t.Versions(cmd) {
		cb.Versions = append(cb.Versions, capture.Version{Plugin: v.Plugin, Version: v.Version})
	}
	w.capture.Add(t.ID, cb, body)
}

// Logs returns the tenants' live logs (imhook dev prints its tenant's).
func (s *Server) Logs() *tenantlog.Store { return s.logs }
