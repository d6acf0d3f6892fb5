// Package console is imhook's web console, served by the admin listener at
// /console/: server-rendered pages for operators (tenants, server health)
// and tenants (plugins and versions, playground, live logs, captures, queue,
// key-value state, charts of the last hour). docs/console.md describes it.
//
// The console holds no authority of its own. A user logs in with an admin
// API token; the token is kept server-side in the session the browser's
// HttpOnly, SameSite=Strict cookie names, and every page and action is one
// or more calls of the admin API in this process with that token. What a
// token may see and change is therefore exactly what the API allows it.
//
// Browser protections: the admin API's Host/Origin checks on every request,
// a per-session CSRF value in every form checked on every POST, a strict
// Content-Security-Policy (no inline script or style), frame-ancestors none
// and no-store caching of every page.
//
// Assets (templates, CSS, one small script) are embedded: the console works
// without network access.
package console

import (
	"embed"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/history"
)

// Prefix is where the admin listener mounts the console.
const Prefix = "/console/"

//go:embed static
var static embed.FS

// Options configures the console.
type Options struct {
	// API is the admin API's handler (admin.API.Handler()). Required.
	API fasthttp.RequestHandler
	// Metrics is the server's registry, for the operator's server view.
	// Nil: that view shows no metrics.
	Metrics prometheus.Gatherer
	// History is the tenants' last hour, for the charts. Nil: no charts.
	History *history.History
	// Health answers like the admin listener's /readyz. Nil: not shown.
	Health fasthttp.RequestHandler
}

// Console serves the pages. Create it with New; safe for concurrent use.
type Console struct {
	api      fasthttp.RequestHandler
	metrics  prometheus.Gatherer
	history  *history.History
	health   fasthttp.RequestHandler
	sessions *sessions
	pages    *pages
}

// New returns the console.
func New(opt Options) (*Console, error) {
	if opt.API == nil {
		return nil, errorf("console: options: API is required")
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	return &Console{api: opt.API, metrics: opt.Metrics, history: opt.History, health: opt.Health,
		sessions: newSessions(), pages: p}, nil
}

// csp allows the console's own script, styles and images and nothing else:
// no inline script or style, no frames, forms only to the console.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves every path under Prefix.
func (c *Console) Handler() fasthttp.RequestHandler { return c.serve }

func (c *Console) serve(rc *fasthttp.RequestCtx) {
	h := &rc.Response.Header
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // no-referrer would make Chromium send "Origin: null" on our own forms
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if err := admin.CheckOrigin(rc); err != nil {
		c.plainError(rc, fasthttp.StatusForbidden, err.Error())
		return
	}
	if string(rc.Path()) == strings.TrimSuffix(Prefix, "/") {
		rc.Redirect(Prefix, fasthttp.StatusSeeOther)
		return
	}
	path := strings.TrimPrefix(string(rc.Path()), Prefix)
	if strings.HasPrefix(path, "static/") {
		c.serveStatic(rc, path)
		return
	}
	h.Set(fasthttp.HeaderCacheControl, "no-store")
	if rc.IsPost() && !c.postAllowed(rc, path) {
		return
	}
	if path == "login" {
		c.login(rc)
		return
	}
	s := c.sessions.get(rc)
	if s == nil {
		if rc.IsGet() && !strings.HasSuffix(path, ".json") {
			rc.Redirect(Prefix+"login", fasthttp.StatusSeeOther)
			return
		}
		c.plainError(rc, fasthttp.StatusUnauthorized, "not logged in: open "+Prefix+"login")
		return
	}
	segs := strings.Split(path, "/")
	switch {
	case path == "":
		if s.operator() {
			rc.Redirect(Prefix+"tenants", fasthttp.StatusSeeOther)
		} else {
			rc.Redirect(Prefix+"t/"+s.tenant+"/", fasthttp.StatusSeeOther)
		}
	case path == "logout" && rc.IsPost():
		c.sessions.drop(s)
		setCookie(rc, sessionCookie, "", 0)
		rc.Redirect(Prefix+"login", fasthttp.StatusSeeOther)
	case path == "tenants":
		c.tenants(rc, s)
	case path == "server":
		c.server(rc, s)
	case len(segs) == 2 && segs[0] == "t" && rc.IsGet():
		rc.Redirect(Prefix+path+"/", fasthttp.StatusSeeOther)
	case len(segs) >= 3 && segs[0] == "t":
		c.tenantRoute(rc, s, segs[1], segs[2:])
	default:
		c.notFound(rc, s)
	}
}

// postAllowed checks a POST's CSRF value against its session (the login
// form's against its cookie) and answers 403 when it does not match. The
// Origin check has already passed: this is the second, independent guard.
func (c *Console) postAllowed(rc *fasthttp.RequestCtx, path string) bool {
	got := formValue(rc, "csrf")
	want := ""
	if path == "login" {
		want = string(rc.Request.Header.Cookie(loginCookie))
	} else if s := c.sessions.get(rc); s != nil {
		want = s.csrf
	}
	if sameSecret(got, want) {
		return true
	}
	c.plainError(rc, fasthttp.StatusForbidden, "form refused: its CSRF value does not match your session; reload the page and submit it again")
	return false
}

// formValue returns a field of a urlencoded or multipart form.
func formValue(rc *fasthttp.RequestCtx, name string) string {
	if v := rc.PostArgs().Peek(name); v != nil {
		return string(v)
	}
	if f, err := rc.MultipartForm(); err == nil {
		if vs := f.Value[name]; len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// serveStatic serves an embedded asset; they change only with the binary.
func (c *Console) serveStatic(rc *fasthttp.RequestCtx, path string) {
	b, err := static.ReadFile(path)
	if err != nil || strings.HasSuffix(path, "/") {
		rc.Error("not found", fasthttp.StatusNotFound)
		return
	}
	switch {
	case strings.HasSuffix(path, ".css"):
		rc.SetContentType("text/css; charset=utf-8")
	case strings.HasSuffix(path, ".js"):
		rc.SetContentType("text/javascript; charset=utf-8")
	default:
		rc.SetContentType(http.DetectContentType(b))
	}
	rc.Response.Header.Set(fasthttp.HeaderCacheControl, "public, max-age=3600")
	rc.SetBody(b)
}

// plainError answers a short text error.
func (c *Console) plainError(rc *fasthttp.RequestCtx, status int, msg string) {
	rc.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	rc.SetStatusCode(status)
	rc.SetContentType("text/plain; charset=utf-8")
	rc.SetBodyString(msg + "\n")
}

// redirect sends the browser to a console page after a POST, with a message
// for that page.
func (c *Console) redirect(rc *fasthttp.RequestCtx, s *session, to, msg string, err error) {
	if err != nil {
		c.sessions.setFlash(s, err.Error(), false)
	} else if msg != "" {
		c.sessions.setFlash(s, msg, true)
	}
	rc.Redirect(to, fasthttp.StatusSeeOther)
}

// status returns the HTTP status for an API error.
func status(err error) int {
	if e, ok := err.(*apiError); ok {
		return e.status
	}
	return fasthttp.StatusInternalServerError
}

type consoleError string

func (e consoleError) Error() string { return string(e) }

func errorf(msg string) error { return consoleError(msg) }
