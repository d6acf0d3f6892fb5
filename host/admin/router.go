package admin

import (
	"context"
	"strings"

	"github.com/valyala/fasthttp"
)

// request is one admin call after routing and authentication. It is only
// valid during the handler: it refers to the fasthttp RequestCtx.
type request struct {
	rc  *fasthttp.RequestCtx
	ctx context.Context
	who principal

	// Path parameters; empty when the route has none.
	tenant, plugin, hash string
	secret               string
	event                string // queue.go
	key                  string // kv.go: base64url
}

// route is one method and path pattern. Pattern segments in braces capture
// a path parameter: {tenant}, {plugin}, {hash} or {event}.
type route struct {
	method  string
	pattern []string
	access  access
	heavy   bool // compiles or runs a module: admitted by the heavyGate
	handle  func(r *request) error
}

// table lists every route; docs/openapi.yaml documents each one.
func (a *API) table() []route {
	r := func(method, pattern string, acc access, h func(*request) error) route {
		return route{method: method, pattern: strings.Split(strings.Trim(pattern, "/"), "/"), access: acc, handle: h}
	}
	heavy := func(rt route) route { rt.heavy = true; return rt }
	const (
		tenants  = "/v1/tenants"
		tenant   = tenants + "/{tenant}"
		plugins  = tenant + "/plugins"
		plugin   = plugins + "/{plugin}"
		versions = plugin + "/versions"
		version  = versions + "/{hash}"
	)
	return []route{
		r("GET", "/v1/whoami", anyToken, a.whoami),
		r("GET", "/v1/store", operatorOnly, a.getStore),
		r("POST", "/v1/store/accept", operatorOnly, a.acceptLoss),
		r("GET", tenants, operatorOnly, a.listTenants),
		r("POST", tenants, operatorOnly, a.createTenant),
		r("GET", tenant, tenantScoped, a.getTenant),
		r("PATCH", tenant, tenantScoped, a.patchTenant),
		r("DELETE", tenant, operatorOnly, a.deleteTenant),
		r("POST", tenant+"/token", tenantScoped, a.rotateToken),
		r("GET", tenant+"/settings", tenantScoped, a.getSettings),
		r("PUT", tenant+"/settings", tenantScoped, a.putSettings),
		r("GET", tenant+"/stats", tenantScoped, a.getStats),
		r("GET", plugins, tenantScoped, a.listPlugins),
		r("PUT", plugins+"/order", tenantScoped, a.reorderPlugins),
		r("GET", plugin, tenantScoped, a.getPlugin),
		r("DELETE", plugin, tenantScoped, a.deletePlugin),
		r("POST", plugin+"/rollback", tenantScoped, a.rollback),
		r("GET", versions, tenantScoped, a.listVersions),
		heavy(r("POST", versions, tenantScoped, a.upload)),
		r("GET", version, tenantScoped, a.getVersion),
		r("DELETE", version, tenantScoped, a.deleteVersion),
		r("POST", version+"/activate", tenantScoped, a.activate),
		heavy(r("POST", version+"/test", tenantScoped, a.dryRun)),
		r("GET", tenant+"/secrets", tenantScoped, a.listSecrets),
		r("PUT", tenant+"/secrets/{secret}", tenantScoped, a.putSecret),
		r("DELETE", tenant+"/secrets/{secret}", tenantScoped, a.deleteSecret),
		// The after-callback queue (queue.go).
		r("GET", tenant+"/queue", tenantScoped, a.getQueue),
		r("GET", tenant+"/queue/dead", tenantScoped, a.listDead),
		r("DELETE", tenant+"/queue/dead", tenantScoped, a.purgeAllDead),
		r("POST", tenant+"/queue/dead/retry", tenantScoped, a.retryAllDead),
		r("GET", tenant+"/queue/dead/{event}", tenantScoped, a.getDead),
		r("DELETE", tenant+"/queue/dead/{event}", tenantScoped, a.purgeDead),
		r("POST", tenant+"/queue/dead/{event}/retry", tenantScoped, a.retryDead),
		// The tenant's workflow (logs.go, capture.go).
		r("GET", tenant+"/logs", tenantScoped, a.getLogs),
		r("GET", tenant+"/capture", tenantScoped, a.getCapture),
		r("PUT", tenant+"/capture", tenantScoped, a.putCapture),
		r("DELETE", tenant+"/capture", tenantScoped, a.clearCapture),
		heavy(r("POST", tenant+"/capture/replay", tenantScoped, a.replay)),
		r("GET", tenant+"/kv", tenantScoped, a.listKV),
		r("GET", tenant+"/kv/{key}", tenantScoped, a.getKV),
		r("PUT", tenant+"/kv/{key}", tenantScoped, a.putKV),
		r("DELETE", tenant+"/kv/{key}", tenantScoped, a.deleteKV),
	}
}

// match returns the route for method and path, with its parameters filled in
// req. It returns a 404 when no pattern matches the path, and a 405 listing
// the allowed methods when one does for other methods.
func (a *API) match(method, path string, req *request) (*route, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var allowed []string
	for i := range a.routes {
		rt := &a.routes[i]
		if !bind(rt.pattern, segs, nil) {
			continue
		}
		if rt.method != method {
			allowed = append(allowed, rt.method)
			continue
		}
		bind(rt.pattern, segs, req)
		return rt, nil
	}
	if len(allowed) > 0 {
		return nil, &APIError{Status: fasthttp.StatusMethodNotAllowed,
			Message: "method " + method + " not allowed on " + path + "; allowed: " + strings.Join(allowed, ", ")}
	}
	return nil, apiErrorf(fasthttp.StatusNotFound, "no route %s %s; see docs/admin-api.md", method, path)
}

// bind reports whether segs match pattern and, when req is not nil, stores
// the parameters in it.
func bind(pattern, segs []string, req *request) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return false
			}
			if req != nil {
				switch p {
				case "{tenant}":
					req.tenant = segs[i]
				case "{plugin}":
					req.plugin = segs[i]
				case "{hash}":
					req.hash = segs[i]
				case "{secret}":
					req.secret = segs[i]
				case "{event}":
					req.event = segs[i]
				case "{key}":
					req.key = segs[i]
				}
			}
			continue
		}
		if p != segs[i] {
			return false
		}
	}
	return true
}

// dispatch runs the guards, finds the route, authenticates and authorizes the
// caller, and runs the handler. Authentication comes before routing errors
// other than 404/405 so that nothing about tenants leaks to anonymous callers.
func (a *API) dispatch(rc *fasthttp.RequestCtx) error {
	if err := checkOrigin(rc); err != nil {
		return err
	}
	req := &request{rc: rc}
	rt, err := a.match(string(rc.Method()), string(rc.Path()), req)
	if err != nil {
		return err
	}
	timeout := lightTimeout
	if rt.heavy {
		timeout = heavyTimeout
	}
	ctx, cancel := withTimeout(timeout)
	defer cancel()
	req.ctx = ctx
	if req.who, err = a.authenticate(ctx, rc); err != nil {
		return err
	}
	if err := a.authorize(req.who, rt.access, req.tenant); err != nil {
		return err
	}
	if rt.heavy {
		leave, err := a.heavy.enter(ctx, req.tenant)
		if err != nil {
			return err
		}
		defer leave()
	}
	return rt.handle(req)
}
