// Package host is imhook serving, assembled from a Config: it opens the
// store (plugins/registry), creates the sandbox (plugins), starts the live
// tenant directory (host/tenants), and serves the webhook listener OpenIM
// calls (host/webhook) and the admin API (host/admin) until its context
// ends, then shuts down gracefully.
//
// Its subpackages are the HTTP face and the tenants' serving state: webhook
// (the fasthttp handler), tenants (who is live, with which plugin versions),
// chain (one callback through a tenant's plugins, and every reply imhook
// sends OpenIM), admin (the management API), metrics. cmd/imhook fills the
// Config from defaults, a file, the environment and flags.
package host
