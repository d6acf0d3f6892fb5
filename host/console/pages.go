package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

//go:embed templates
var templateFS embed.FS

// pages are the parsed templates, one set per page, each with the layout.
type pages struct{ byName map[string]*template.Template }

var funcs = template.FuncMap{
	"short": func(h string) string {
		if len(h) > 12 {
			return h[:12]
		}
		return h
	},
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"rawjson": func(b json.RawMessage) string {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") != nil {
			return string(b)
		}
		return out.String()
	},
	"join": strings.Join,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"us": func(us int64) string {
		return (time.Duration(us) * time.Microsecond).String()
	},
	"bytes": func(n uint64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
}

func parsePages() (*pages, error) {
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, err
		}
		p.byName[name] = t
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title   string
	User    string // "operator" or "tenant acme"
	CSRF    string
	Tenant  string // the tenant whose pages these are, for the tenant menu
	Tab     string // the tenant menu's current entry
	Flash   string
	FlashOK bool
	Data    any
}

// render writes page name with data for session s (nil on the login page).
func (c *Console) render(rc *fasthttp.RequestCtx, s *session, code int, name, title, tenant string, data any) {
	v := view{Title: title, Tenant: tenant, Data: data}
	if s != nil {
		v.CSRF = s.csrf
		v.User = "operator"
		if !s.operator() {
			v.User = "tenant " + s.tenant
		}
		v.Flash, v.FlashOK = c.sessions.takeFlash(s)
	}
	v.Tab = name
	c.renderView(rc, code, name, v)
}

// renderView writes page name with v.
func (c *Console) renderView(rc *fasthttp.RequestCtx, code int, name string, v view) {
	var b bytes.Buffer
	if err := c.pages.byName[name].ExecuteTemplate(&b, "layout", v); err != nil {
		c.plainError(rc, fasthttp.StatusInternalServerError, "console: page "+name+": "+err.Error())
		return
	}
	rc.SetStatusCode(code)
	rc.SetContentType("text/html; charset=utf-8")
	rc.SetBody(b.Bytes())
}

// fail renders an error page for an API refusal or failure: the API's own
// message and status, so a tenant token on another tenant's page sees the
// API's 403.
func (c *Console) fail(rc *fasthttp.RequestCtx, s *session, tenant string, err error) {
	code := status(err)
	if code == fasthttp.StatusUnauthorized { // token rotated or tenant deleted
		c.sessions.drop(s)
		setCookie(rc, sessionCookie, "", 0)
	}
	c.render(rc, s, code, "error", "Error", tenant, err.Error())
}

func (c *Console) notFound(rc *fasthttp.RequestCtx, s *session) {
	c.render(rc, s, fasthttp.StatusNotFound, "error", "Not found", "", "no such page: "+string(rc.Path()))
}
