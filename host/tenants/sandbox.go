package tenants

import (
	"maps"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
)

// SandboxConfig turns a tenant's stored settings into the sandbox
// configuration its plugins run with: defaults (from the server config)
// overridden field by field by the tenant's own non-zero limits, its grants
// and its configuration values. It is the one place that mapping lives; the
// admin API uses it for dry runs too. Logger is left nil for the caller.
func SandboxConfig(t *registry.Tenant, defaults plugins.Limits) plugins.TenantConfig {
	l := defaults
	s := t.Settings.Limits
	if s.MemoryPages != 0 {
		l.MemoryPages = s.MemoryPages
	}
	if s.CallTimeout != 0 {
		l.CallTimeout = s.CallTimeout
	}
	if s.MaxInstructions != 0 {
		l.MaxInstructions = uint64(s.MaxInstructions)
	}
	if s.InitInstructions != 0 {
		l.InitInstructions = uint64(s.InitInstructions)
	}
	if s.MaxInputBytes != 0 {
		l.MaxInputBytes = int(s.MaxInputBytes)
	}
	if s.MaxOutputBytes != 0 {
		l.MaxOutputBytes = int(s.MaxOutputBytes)
	}
	if s.MaxLogBytes != 0 {
		l.MaxLogBytes = int(s.MaxLogBytes)
	}
	if s.Instances != 0 {
		l.MaxInstances = s.Instances
	}
	if s.CallsPerInstance != 0 {
		l.MaxCallsPerInstance = int(s.CallsPerInstance)
	}
	// A zero CallTimeout disables the CPU limit in the sandbox; a tenant never
	// gets that by leaving the field empty.
	if l.CallTimeout <= 0 {
		l.CallTimeout = plugins.DefaultCallTimeout
	}
	var g plugins.Grants
	for _, name := range t.Settings.Grants {
		switch name {
		case registry.GrantWalltime:
			g.Walltime = true
		case registry.GrantNanotime:
			g.Nanotime = true
		case registry.GrantRandom:
			g.Random = true
		}
	}
	return plugins.TenantConfig{
		ID:     t.ID,
		Limits: l,
		Grants: g,
		Config: maps.Clone(t.Settings.Config),
	}
}
