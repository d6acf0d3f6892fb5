// Package egress decides where a tenant's plugins may send HTTP out-calls.
//
// Two lists decide, and both must agree:
//
//   - The tenant's grant (Allow): destinations written as patterns of
//     scheme, host and port, such as "https://api.example.com" or
//     "http://*.corp.example:8080" (grammar: ParsePattern). A URL that no
//     pattern matches is refused before anything is resolved or sent.
//   - The operator's policy (Policy): whatever the tenant lists, the address
//     actually connected to must not be loopback, link-local, private
//     (RFC 1918, unique local, CGNAT), cloud metadata or otherwise special,
//     unless the operator allowed its network explicitly. Policy.Control
//     checks the address a dialer is about to connect to, after DNS, so a
//     name that resolves (or is rebound) to a private address is refused.
//
// The package also checks the request itself (CheckRequest): the method,
// the URL's form (no userinfo), and header names and values (no CR, LF or
// NUL; no header the transport owns). It imports no HTTP client, so the
// registry can validate a tenant's patterns and the sandbox can check a
// request without linking one; plugins/outcall is the client.
package egress
