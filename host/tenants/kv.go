package tenants

import (
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	kvstate "github.com/imhook/imhook/plugins/state"
)

// StateQuota is the quota of a tenant's state under its limits (defaults
// applied).
func StateQuota(l limits.Limits) kvstate.Quota {
	return kvstate.Quota{MaxKeys: l.MaxKVKeys, MaxBytes: l.MaxKVBytes, MaxKeyBytes: l.MaxKVKeyBytes, MaxValueBytes: l.MaxKVValueBytes}
}

// kv is the tenant's state for its sandbox: the server's state backend
// bound to the tenant's ID, so that no key a plugin passes reaches another
// tenant, with the quota of its limits; nil when the server has no state.
func (d *Directory) kv(id string, l limits.Limits) plugins.KV {
	if d.opt.State == nil {
		return nil
	}
	return kvstate.NewTenant(d.opt.State, id, StateQuota(l), d.opt.Metrics.KVQuota)
}
