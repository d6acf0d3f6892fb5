package tenantlog

import (
	"context"
	"log/slog"
)

// Handler returns a slog.Handler that hands next every record next is
// enabled for, and records in s, at every level, each record that names a
// tenant in its top-level attribute "tenant": a plugin's line (the sandbox
// adds plugin, plugin_version and command, and the plugin's own pairs in the
// group "attrs") as KindLog, any other (no command) as KindHost with its
// attributes flattened. The tenant is only ever the host's attribute: a plugin's pairs
// sit inside "attrs", where "tenant" is just another key.
//
// host wraps the logger of host/tenants with it: the guests' lines and the
// directory's lines about loads reach the tenant's log.
func (s *Store) Handler(next slog.Handler) slog.Handler { return &handler{s: s, next: next} }

type handler struct {
	s      *Store
	next   slog.Handler
	pre    []slog.Attr // from WithAttrs, outside any group
	groups bool        // WithGroup was called: records are only passed on
}

// Enabled implements slog.Handler: every level is kept for the tenant.
func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if h.groups {
		return err
	}
	var tenant string
	l := Line{Time: r.Time, Level: levelName(r.Level), Message: r.Message}
	take := func(a slog.Attr) bool {
		switch a.Key {
		case "tenant":
			tenant = a.Value.String()
		case "plugin":
			l.Plugin = a.Value.String()
		case "plugin_version":
			l.Version = a.Value.String()
		case "command":
			l.Command = a.Value.String()
		case "operation_id":
			l.OperationID = a.Value.String()
		case "attrs":
			if a.Value.Kind() == slog.KindGroup {
				for _, g := range a.Value.Group() {
					l.setAttr(g.Key, g.Value.String())
				}
				return true
			}
			l.setAttr(a.Key, a.Value.String())
		default:
			l.setAttr(a.Key, a.Value.String())
		}
		return true
	}
	for _, a := range h.pre {
		take(a)
	}
	r.Attrs(take)
	if tenant == "" {
		return err
	}
	// The sandbox names the command of a guest's line; imhook's own lines
	// about a tenant are not about one callback.
	l.Kind = KindHost
	if l.Command != "" {
		l.Kind = KindLog
	}
	h.s.Add(tenant, l)
	return err
}

func (l *Line) setAttr(k, v string) {
	if l.Attrs == nil {
		l.Attrs = map[string]string{}
	}
	l.Attrs[k] = v
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	if !h.groups {
		c.pre = append(h.pre[:len(h.pre):len(h.pre)], attrs...)
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.groups = true
	return &c
}
