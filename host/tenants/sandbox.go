package tenants

import (
	"maps"
	"slices"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

// SandboxOptions turns a tenant's stored settings into the options its
// sandbox runs with: the tenant's own limits over defaults (the server's
// sandbox.limits, built-in defaults applied), its grants and its
// configuration values. The admin API uses it for dry runs too, so a dry run
// runs under the limits a callback would. Logger is left nil for the caller.
func SandboxOptions(t *registry.Tenant, defaults limits.Limits) plugins.SandboxOptions {
	// The registry validated the names; an invalid one grants nothing.
	g, _ := limits.ParseGrants(t.Settings.Grants)
	return plugins.SandboxOptions{
		ID:     t.ID,
		Limits: t.Settings.Limits.Or(defaults).WithDefaults(),
		Grants: g,
		Config: maps.Clone(t.Settings.Config),
		// Out-calls: the caller sets HTTP (the directory, from its pool).
		EgressAllow: slices.Clone(t.Settings.EgressAllow),
		Secrets:     maps.Clone(t.Secrets),
	}
}
