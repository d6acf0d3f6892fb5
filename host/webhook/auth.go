package webhook

import (
	"bytes"
	"encoding/base64"
	"net/netip"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenants"
)

// authResult is the verdict of checkAuth.
type authResult uint8

const (
	authOK        authResult = iota
	authForbidden            // source address not allowed: 403
	authMissing              // Basic required, none sent: 401
	authWrong                // Basic sent and wrong: 401
)

// checkAuth applies the tenant's network allow-list, then its HTTP Basic
// credentials. OpenIM sends Basic credentials when its webhooks.yml url holds
// user:pass@. The password is compared by its sha256 in constant time
// (registry.Auth.VerifyBasic); it is never logged or kept.
//
// The source address is the TCP peer: imhook does not trust forwarding
// headers, so put it behind no proxy, or allow the proxy's network.
func checkAuth(ctx *fasthttp.RequestCtx, t *tenants.Live) authResult {
	if addr, ok := netip.AddrFromSlice(ctx.RemoteIP()); !ok || !t.AllowsAddr(addr) {
		return authForbidden
	}
	a := t.Auth()
	if a.BasicUser == "" {
		return authOK
	}
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const scheme = "basic "
	if len(h) < len(scheme) || !bytes.EqualFold(h[:len(scheme)], []byte(scheme)) {
		return authMissing
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(h[len(scheme):])))
	if err != nil {
		return authWrong
	}
	user, pass, ok := bytes.Cut(raw, []byte(":"))
	if !ok || !a.VerifyBasic(string(user), string(pass)) {
		return authWrong
	}
	return authOK
}
