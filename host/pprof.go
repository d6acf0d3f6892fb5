package host

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"
)

// pprofPrefix is where admin.pprof serves Go's runtime profiles.
var pprofPrefix = []byte("/debug/pprof/")

// maxProfileSeconds bounds ?seconds= of a CPU profile or a trace: the
// admin listener's write timeout is a minute, and a longer profile would be
// cut off after the server paid for it.
const maxProfileSeconds = 50

// servePprof serves /debug/pprof/ (docs/operations.md, "Profiling") when
// admin.pprof is on, to the operator token only: profiles show every
// tenant's work, goroutine dumps show their requests' state, and a CPU
// profile or a trace costs the whole server while it runs.
func (s *Server) servePprof(ctx *fasthttp.RequestCtx) {
	fail := func(status int, msg string) {
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":` + strconv.Quote(msg) + "}\n")
	}
	switch {
	case !s.cfg.Admin.Pprof:
		fail(fasthttp.StatusNotFound, "profiling is off: set admin.pprof: true (IMHOOK_ADMIN__PPROF=true) and restart")
		return
	case s.cfg.Admin.Token == "":
		fail(fasthttp.StatusForbidden, "profiling needs the operator token, and admin.token is not set")
		return
	}
	scheme, token, _ := bytes.Cut(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization), []byte(" "))
	if !bytes.EqualFold(scheme, []byte("Bearer")) || len(token) == 0 || !sameSecret(string(token), s.cfg.Admin.Token) {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="imhook profiling"`)
		fail(fasthttp.StatusUnauthorized, "/debug/pprof/ requires the operator token (Authorization: Bearer <admin.token>)")
		return
	}
	if !ctx.IsGet() {
		fail(fasthttp.StatusMethodNotAllowed, "profiles are read with GET")
		return
	}
	if sec := ctx.QueryArgs().Peek("seconds"); len(sec) > 0 {
		if n, err := strconv.Atoi(string(sec)); err != nil || n < 1 || n > maxProfileSeconds {
			fail(fasthttp.StatusBadRequest, "seconds must be 1-"+strconv.Itoa(maxProfileSeconds)+
				" (the admin listener's write timeout is a minute); take several profiles for a longer window")
			return
		}
	}
	pprofhandler.PprofHandler(ctx)
}
