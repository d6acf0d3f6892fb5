package host

import (
	"log/slog"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
)

// adminDeps is what the admin API is built from.
type adminDeps struct {
	Registry       *registry.Registry
	Engine         *plugins.Engine
	Defaults       plugins.Limits
	OperatorToken  string
	MaxUploadBytes int
	Stats          func(tenantID string) (any, bool)
	Logger         *slog.Logger
}

// newAdmin builds the admin API (package host/admin).
func newAdmin(d adminDeps) (*admin.API, error) {
	return admin.New(admin.Options{
		Registry:       d.Registry,
		Engine:         d.Engine,
		Defaults:       d.Defaults,
		OperatorToken:  d.OperatorToken,
		MaxUploadBytes: d.MaxUploadBytes,
		Stats:          d.Stats,
		Logger:         d.Logger,
	})
}
