// Package admin is imhook's admin API: JSON over HTTP, on its own listener, for
// managing tenants, their settings and their plugin versions. docs/admin-api.md
// explains it and docs/openapi.yaml specifies every route.
//
// Two kinds of bearer token are accepted. The operator token, from the
// server's configuration, may do everything. A tenant token, returned once by
// tenant creation or rotation and stored only as a sha256, may read and change
// only its own tenant's plugins and settings (except limits, grants and
// keep_versions, which stay the operator's).
//
//	api, err := admin.New(admin.Options{Registry: reg, Engine: eng, OperatorToken: tok})
//	srv := &fasthttp.Server{Handler: api.Handler(), MaxRequestBodySize: api.MaxRequestBodySize()}
//
// Nothing uploaded can become active without passing plugins.Engine.Inspect:
// format, imports and exports, ABI version, declared commands, compilation and
// one instantiation under the tenant's limits.
package admin

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/tenantlog"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/state"
)

// DefaultMaxUploadBytes is Options.MaxUploadBytes when it is zero: 32 MiB, ten
// times a Go guest built with encoding/json.
const DefaultMaxUploadBytes = 32 << 20

// maxJSONBytes caps JSON request bodies: settings may hold up to
// registry.MaxConfigBytes of configuration values, plus some structure.
const maxJSONBytes = registry.MaxConfigBytes + 64<<10

// Timeouts of admin operations. fasthttp's RequestCtx is done only at server
// shutdown, so each request gets its own deadline.
const (
	lightTimeout = 10 * time.Second // registry reads and writes
	heavyTimeout = 60 * time.Second // waiting for a heavy slot plus compiling and instantiating
)

// Options configures the admin API.
type Options struct {
	// Registry holds tenants, settings and plugin versions. Required.
	Registry *registry.Registry

	// Engine validates uploads (Inspect) and runs dry runs. Required.
	Engine *plugins.Engine

	// Defaults are the server-wide sandbox limits; a tenant's settings
	// override them field by field. Zero fields take the sandbox's defaults,
	// CallTimeout included (uploads and dry runs always run under a CPU
	// limit).
	Defaults limits.Limits

	// OperatorToken is the bearer token that may manage every tenant. Empty
	// disables operator access: only tenant tokens work, and no tenant can be
	// created through the API. Never logged.
	OperatorToken string

	// MaxUploadBytes caps a plugin upload; larger ones get 413. Default
	// DefaultMaxUploadBytes.
	MaxUploadBytes int

	// Stats returns live per-tenant statistics for GET /v1/tenants/{id}/stats,
	// JSON-encodable, and false when the tenant has none (not loaded). Nil
	// answers every stats request with null stats.
	Stats func(tenantID string) (any, bool)

	// Serving waits, up to ctx, until the webhook path serves the tenant's
	// document of at least revision, and returns the tenant's status then
	// (host.Server wires tenants.Directory.Await). Activations answer after
	// it, so that the next callback runs the version they made active. Nil
	// answers them at once, without saying what serves.
	Serving func(ctx context.Context, tenantID string, revision uint64) (tenants.Status, bool, error)

	// Store reports the shared store and the replicas (GET /v1/store) and
	// ends its lost-data state (POST /v1/store/accept). Nil: 404.
	Store Store

	// Replicas returns, by replica ID, the version of each of the tenant's
	// plugins that serves there, for GET /v1/tenants/{id}/stats. Nil: none.
	Replicas func(ctx context.Context, tenantID string) map[string]map[string]string

	// Logger receives one line per change made through the API, and internal
	// errors. Nil discards them.
	Logger *slog.Logger

	// Queue serves the after-callback queue routes (queue.go); nil answers
	// them 404.
	Queue Queue
	// Logs are the tenants' live logs, read and followed through
	// GET .../logs; Capture their captured callbacks (.../capture). Nil
	// makes empty ones of the API's own (host.Server shares its own with
	// the webhook path).
	Logs    *tenantlog.Store
	Capture *capture.Store
	// FollowWindow bounds one GET .../logs?follow=true stream, which then
	// ends telling the client where to resume: the admin listener's write
	// timeout must be longer. Default 45s.
	FollowWindow time.Duration
	// State is the tenants' key-value state, for the kv routes (kv.go) and
	// to delete a deleted tenant's keys. Nil answers the kv routes 501.
	State state.Backend
}

// API serves the admin routes. Create it with New. It is safe for concurrent
// use.
type API struct {
	reg       *registry.Registry
	eng       *plugins.Engine
	defaults  limits.Limits
	operator  [sha256.Size]byte // sha256 of the operator token
	hasOp     bool
	maxUpload int
	stats     func(string) (any, bool)
	serving   func(context.Context, string, uint64) (tenants.Status, bool, error)
	store     Store
	replicas  func(context.Context, string) map[string]map[string]string
	log       *slog.Logger
	heavy     *heavyGate
	routes    []route
	queue     Queue

	logs         *tenantlog.Store
	capture      *capture.Store
	followWindow time.Duration
	state        state.Backend // kv.go
}

// New checks opt and returns the API.
//
// # Errors
//
// Registry or Engine is nil, or MaxUploadBytes is negative.
func New(opt Options) (*API, error) {
	switch {
	case opt.Registry == nil:
		return nil, errors.New("admin: options: Registry is required")
	case opt.Engine == nil:
		return nil, errors.New("admin: options: Engine is required")
	case opt.MaxUploadBytes < 0:
		return nil, errors.New("admin: options: MaxUploadBytes must not be negative")
	}
	a := &API{
		reg:       opt.Registry,
		eng:       opt.Engine,
		defaults:  opt.Defaults,
		maxUpload: opt.MaxUploadBytes,
		stats:     opt.Stats,
		serving:   opt.Serving,
		store:     opt.Store,
		replicas:  opt.Replicas,
		log:       opt.Logger,
		heavy:     newHeavyGate(),
		queue:     opt.Queue,
		state:     opt.State,
	}
	a.logs, a.capture, a.followWindow = opt.Logs, opt.Capture, opt.FollowWindow
	if a.logs == nil {
		a.logs = tenantlog.New(tenantlog.Options{})
	}
	if a.capture == nil {
		a.capture = capture.New(capture.Options{})
	}
	if a.followWindow <= 0 {
		a.followWindow = defaultFollowWindow
	}
	if a.maxUpload == 0 {
		a.maxUpload = DefaultMaxUploadBytes
	}
	if opt.OperatorToken != "" {
		a.operator = sha256.Sum256([]byte(opt.OperatorToken))
		a.hasOp = true
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a.routes = a.table()
	return a, nil
}

// MaxRequestBodySize is the smallest fasthttp.Server.MaxRequestBodySize that
// lets the largest allowed upload reach the API. With a smaller server limit,
// fasthttp refuses big uploads itself, with a plain-text 413.
func (a *API) MaxRequestBodySize() int {
	return max(a.maxUpload, maxJSONBytes) + 1
}

// Handler returns the fasthttp handler of every /v1/ route. Other paths get a
// JSON 404, so a server may mount it behind its own routes (/metrics,
// /readyz).
func (a *API) Handler() fasthttp.RequestHandler { return a.serve }

// serve is the request entry point: guards, routing, auth, the handler, and
// the one error mapping.
func (a *API) serve(ctx *fasthttp.RequestCtx) {
	err := a.dispatch(ctx)
	if err != nil {
		a.handleError(ctx, err)
	}
}

// withTimeout returns a context for one admin operation. It is not derived
// from ctx: a RequestCtx is done only at server shutdown and must not be kept.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
