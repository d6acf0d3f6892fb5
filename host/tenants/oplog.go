package tenants

import (
	"context"
	"log/slog"
)

// opCtx carries the callback's operationID to the guests' log lines: Serve
// wraps its context in one, the sandbox logs each guest line with the
// context of its call, and opHandler reads it back. One small allocation per
// callback, none per log line; a line costs nothing extra unless logged.
type opCtx struct {
	context.Context
	id []byte // valid for the duration of Serve only
}

// opKey is the context key under which an *opCtx finds itself.
type opKey struct{}

// Value implements context.Context.
func (c *opCtx) Value(key any) any {
	if key == (opKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// withOperationID returns ctx carrying opID for the guests' log lines; ctx
// itself when opID is empty.
func withOperationID(ctx context.Context, opID []byte) context.Context {
	if len(opID) == 0 {
		return ctx
	}
	return &opCtx{Context: ctx, id: opID}
}

// opHandler adds the operation_id attribute to the records logged with a
// context from withOperationID. The sandbox logs guest lines with tenant,
// plugin, plugin_version and command; the operationID is the host's to add.
type opHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h opHandler) Handle(ctx context.Context, r slog.Record) error {
	if c, ok := ctx.Value(opKey{}).(*opCtx); ok {
		r.AddAttrs(slog.String("operation_id", string(c.id)))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h opHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return opHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h opHandler) WithGroup(name string) slog.Handler {
	return opHandler{h.Handler.WithGroup(name)}
}
