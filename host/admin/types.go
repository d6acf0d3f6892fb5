package admin

import (
	"time"

	"github.com/imhook/imhook/plugins/registry"
)

// The types below are the JSON bodies of the API, shared with the imhook CLI.
// docs/openapi.yaml is their schema.

// Tenant is a tenant as the API shows it: the registry's document without
// the token hash.
type Tenant struct {
	ID        string            `json:"id"`
	Settings  registry.Settings `json:"settings"`
	Plugins   []registry.Plugin `json:"plugins"`
	Revision  uint64            `json:"revision"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// TenantList is the body of GET /v1/tenants.
type TenantList struct {
	Tenants []Tenant `json:"tenants"`
}

// CreateTenant is the body of POST /v1/tenants.
type CreateTenant struct {
	ID       string            `json:"id"`
	Settings registry.Settings `json:"settings"`
}

// TenantToken is the body of a tenant creation or token rotation: the
// tenant and its new token, which is shown only this once.
type TenantToken struct {
	Tenant Tenant `json:"tenant"`
	Token  string `json:"token"`
}

// Whoami is the body of GET /v1/whoami.
type Whoami struct {
	// Role is "operator" or "tenant".
	Role string `json:"role"`
	// Tenant is the token's tenant when Role is "tenant".
	Tenant string `json:"tenant,omitempty"`
}

// PluginList is the body of GET /v1/tenants/{tenant}/plugins: the plugins in
// execution order.
type PluginList struct {
	Plugins  []registry.Plugin `json:"plugins"`
	Revision uint64            `json:"revision"`
}

// Order is the body of PUT /v1/tenants/{tenant}/plugins/order.
type Order struct {
	Order []string `json:"order"`
}

// VersionList is the body of GET .../plugins/{plugin}/versions: the kept
// versions in upload order, newest last.
type VersionList struct {
	Active   string             `json:"active,omitempty"`
	Versions []registry.Version `json:"versions"`
}

// Upload is the body of a successful plugin upload.
type Upload struct {
	Plugin  string           `json:"plugin"`
	Version registry.Version `json:"version"`
	// Created is false when the plugin already had a version with these
	// bytes; nothing was stored then.
	Created bool `json:"created"`
	// Active reports whether the version is now the active one.
	Active bool `json:"active"`
	// CompileTimeUS is how long validation took to compile the module, in
	// microseconds (near zero when it came from the compilation cache).
	CompileTimeUS int64 `json:"compile_time_us"`
	// CPULimit says how the version's runaway calls are stopped under the
	// tenant's limits: "instructions" (an instruction budget, the default)
	// or "deadline" (a module that cannot be metered; slower calls), and
	// CPULimitReason why it is not "instructions".
	CPULimit       string `json:"cpu_limit"`
	CPULimitReason string `json:"cpu_limit_reason,omitempty"`
	// InitInstructions is what the module's _initialize used (metered only).
	InitInstructions uint64 `json:"init_instructions,omitempty"`
	// PreInitialized reports that the version's instances start from the
	// state its first instance's _initialize left; PreInitReason says why
	// not, for a module with an _initialize.
	PreInitialized bool   `json:"pre_initialized"`
	PreInitReason  string `json:"pre_init_reason,omitempty"`
	// WireInput reports that the module accepts requests in the wire format
	// (every Go SDK plugin): imhook sends it the parsed request, which it
	// decodes several times faster than JSON. False: it receives JSON.
	WireInput bool `json:"wire_input"`
	// Revision is the tenant's revision after the upload (its new ETag).
	Revision uint64 `json:"revision"`
	// Serving is what the webhook path runs for the plugin, when the upload
	// activated the version (see Activation).
	Serving *Serving `json:"serving,omitempty"`
}

// Activation is the body of activate and rollback: the plugin as the
// registry now has it, and what the webhook path runs for it.
type Activation struct {
	registry.Plugin
	// Serving is what this server's webhook path runs for the plugin once
	// it serves the new active version, or when the wait for that ended.
	// Absent when the API cannot tell (no live directory).
	Serving *Serving `json:"serving,omitempty"`
}

// Serving is what the webhook path of this server runs for a plugin.
type Serving struct {
	// Version is the hash of the version serving the plugin's callbacks;
	// empty when none does.
	Version string `json:"version,omitempty"`
	// Loading is true when the active version had not loaded by the end of
	// the wait: Version, the previous one, serves until it has (GET
	// .../stats tells when).
	Loading bool `json:"loading,omitempty"`
	// LoadError says why the active version failed to load; Version, the
	// previous one, keeps serving.
	LoadError string `json:"load_error,omitempty"`
}

// Stats is the body of GET /v1/tenants/{tenant}/stats.
type Stats struct {
	Tenant string `json:"tenant"`
	// Stats are the live statistics of the tenant's loaded plugins, or null
	// when the tenant is not loaded (no plugin active, or not yet called).
	Stats any `json:"stats"`
	// Replicas maps each replica sharing the store to the version of each
	// plugin serving there (plugin -> hash), from their announcements
	// (refreshed on every change and every 5 s). Absent on a single node.
	Replicas map[string]map[string]string `json:"replicas,omitempty"`
}
