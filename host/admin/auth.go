package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// TokenSeparator joins a tenant ID and its secret in a tenant token:
// "acme.Zm9v...". The registry stores only the sha256 of the secret; the ID
// in front tells the API which tenant to check it against, so a token is
// verified with one lookup and a refused request can name the token's tenant.
// Tenant IDs and the base64url secret never contain it.
const TokenSeparator = "."

// principal is who a request's token belongs to.
type principal struct {
	operator bool
	tenant   string // the token's tenant when !operator
}

// String names the principal in logs; it never contains a secret.
func (p principal) String() string {
	if p.operator {
		return "operator"
	}
	return "tenant[" + p.tenant + "]"
}

// JoinToken returns the token handed to a tenant's users: its ID, TokenSeparator
// and the secret the registry created (which alone is not a valid token).
func JoinToken(id, secret string) string { return id + TokenSeparator + secret }

// authenticate finds the principal of the request's bearer token.
//
// # Errors
//
// 401 when the Authorization header is missing or malformed, or the token is
// neither the operator's nor a tenant's current token.
func (a *API) authenticate(ctx context.Context, rc *fasthttp.RequestCtx) (principal, error) {
	h := string(rc.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if h == "" {
		return principal{}, apiErrorf(fasthttp.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, apiErrorf(fasthttp.StatusUnauthorized, "missing bearer token: the Authorization header must be Bearer <token>")
	}
	// Hash both sides so the comparison takes the same time whatever the
	// lengths; done even without an operator token to keep timing uniform.
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.operator[:]) == 1 && a.hasOp {
		return principal{operator: true}, nil
	}
	id, secret, ok := strings.Cut(token, TokenSeparator)
	if ok && registry.ValidID("tenant", id) == nil && a.reg.VerifyToken(ctx, id, secret) {
		return principal{tenant: id}, nil
	}
	if !a.hasOp {
		return principal{}, apiErrorf(fasthttp.StatusUnauthorized, "invalid token: %s, so only tenant tokens are valid; set one to use operator routes", noOperator)
	}
	return principal{}, apiErrorf(fasthttp.StatusUnauthorized, "invalid token")
}

// noOperator says why nobody may call operator routes.
const noOperator = "this server has no admin.token"

// access says who may call a route.
type access uint8

const (
	// anyToken routes answer every valid token.
	anyToken access = iota + 1
	// operatorOnly routes manage tenants as a whole.
	operatorOnly
	// tenantScoped routes act on the tenant in the path: the operator, or that
	// tenant's own token.
	tenantScoped
)

// authorize checks that p may call a route with access acc on tenant id ("" for
// routes without a tenant). It does not look the tenant up, so a refusal says
// nothing about whether it exists.
func (a *API) authorize(p principal, acc access, id string) error {
	if p.operator {
		return nil
	}
	switch acc {
	case anyToken:
		return nil
	case operatorOnly:
		if !a.hasOp {
			return apiErrorf(fasthttp.StatusForbidden, "token of tenant[%s] cannot manage tenants: %s; set one to use operator routes", p.tenant, noOperator)
		}
		return apiErrorf(fasthttp.StatusForbidden, "token of tenant[%s] cannot manage tenants; use the operator token", p.tenant)
	case tenantScoped:
		if p.tenant != id {
			return apiErrorf(fasthttp.StatusForbidden, "token of tenant[%s] cannot access tenant[%s]", p.tenant, id)
		}
		return nil
	}
	return apiErrorf(fasthttp.StatusForbidden, "forbidden")
}

// checkOrigin refuses browser requests from other origins, and, when the
// listener is on loopback, requests whose Host is not a loopback name: a web
// page whose DNS name was rebound to 127.0.0.1 sends its own name as Host.
func checkOrigin(rc *fasthttp.RequestCtx) error {
	host := string(rc.Host())
	if isLoopback(rc.LocalAddr()) && !loopbackHost(host) {
		return apiErrorf(fasthttp.StatusForbidden,
			"host[%s] refused: the admin API listens on loopback and answers only to localhost, 127.0.0.1 or [::1]", host)
	}
	origin := string(rc.Request.Header.Peek("Origin"))
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || !strings.EqualFold(u.Host, host) {
		return apiErrorf(fasthttp.StatusForbidden, "cross-origin request from origin[%s] refused", origin)
	}
	return nil
}

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// loopbackHost reports whether a Host header names this machine's loopback:
// localhost or a loopback IP literal, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// CheckOrigin applies the admin API's browser checks (a loopback listener
// answers only loopback Host names; an Origin must be the listener's own) to
// another handler of the admin listener: the web console, host/console.
func CheckOrigin(rc *fasthttp.RequestCtx) error { return checkOrigin(rc) }
