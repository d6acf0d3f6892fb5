package console

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/admin"
)

// login shows the login form (GET) or starts a session for a token the
// admin API accepts (POST). The form's CSRF value is a cookie of its own
// (there is no session yet), compared on POST like a session's.
func (c *Console) login(rc *fasthttp.RequestCtx) {
	if !rc.IsPost() {
		c.loginForm(rc, fasthttp.StatusOK, "")
		return
	}
	token := strings.TrimSpace(formValue(rc, "token"))
	if token == "" {
		c.loginForm(rc, fasthttp.StatusBadRequest, "paste an admin API token: the operator's admin.token or a tenant token")
		return
	}
	probe := &session{token: token}
	var who admin.Whoami
	if err := c.get(probe, "/v1/whoami", &who); err != nil {
		c.loginForm(rc, status(err), err.Error())
		return
	}
	s := c.sessions.create(token, who.Role, who.Tenant)
	setCookie(rc, sessionCookie, s.id, sessionTTL)
	setCookie(rc, loginCookie, "", 0)
	if s.operator() {
		rc.Redirect(Prefix+"tenants", fasthttp.StatusSeeOther)
		return
	}
	rc.Redirect(Prefix+"t/"+s.tenant+"/", fasthttp.StatusSeeOther)
}

func (c *Console) loginForm(rc *fasthttp.RequestCtx, code int, msg string) {
	csrf := randomString(24)
	setCookie(rc, loginCookie, csrf, 30*time.Minute)
	v := view{Title: "Log in", CSRF: csrf, Flash: msg}
	c.renderView(rc, code, "login", v)
}
