package host

import (
	"log/slog"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
)

// adminDeps is what the admin API (package host/admin) is built from; it
// mirrors admin.Options.
type adminDeps struct {
	Registry       *registry.Registry
	Engine         *plugins.Engine
	Defaults       plugins.Limits
	OperatorToken  string
	MaxUploadBytes int
	Stats          func(tenantID string) (any, bool)
	Logger         *slog.Logger
}

// newAdmin builds the admin API handler. Until host/admin lands it answers
// every admin path with 404 and a JSON error.
func newAdmin(_ adminDeps) (fasthttp.RequestHandler, error) {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"admin API not available in this build"}` + "\n")
	}, nil
}
