package admin

import (
	"context"
	"time"
)

// servingWait bounds how long an activation waits for the webhook path to
// serve the version it made active: loading a version from the compilation
// cache takes tens of milliseconds, compiling a Go guest afresh a second or
// two.
const servingWait = 5 * time.Second

// awaitServing waits, up to servingWait, until this server's webhook path
// serves the tenant's document of revision rev, and says what it runs for
// plugin, whose active version is active. It returns nil when the API was
// built without Options.Serving.
func (a *API) awaitServing(ctx context.Context, tenant, plugin, active string, rev uint64) *Serving {
	if a.serving == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, servingWait)
	defer cancel()
	st, _, err := a.serving(ctx, tenant, rev)
	s := &Serving{}
	for _, p := range st.Plugins {
		if p.Name == plugin {
			s.Version = p.Serving
			if p.Active == active {
				s.LoadError = p.LoadError
			}
		}
	}
	s.Loading = err != nil && s.Version != active && s.LoadError == ""
	return s
}
