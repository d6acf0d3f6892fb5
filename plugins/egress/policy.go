package egress

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/imhook/imhook/sdk/abi"
)

// refused are the networks no out-call reaches unless the operator allows
// them (Policy.AllowNetworks), with the reason a refusal gives. Whatever
// a tenant lists, its plugins must not reach the host itself, the
// operator's private networks or a cloud's metadata service through imhook.
var refused = func() []struct {
	p   netip.Prefix
	why string
} {
	list := []struct{ cidr, why string }{
		{"0.0.0.0/8", "\"this\" network"},
		{"127.0.0.0/8", "loopback"},
		{"10.0.0.0/8", "private (RFC 1918)"},
		{"172.16.0.0/12", "private (RFC 1918)"},
		{"192.168.0.0/16", "private (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"},
		{"169.254.0.0/16", "link-local (cloud metadata services live here)"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"64:ff9b::/96", "NAT64 (it maps to IPv4 addresses, private ones included)"},
		{"64:ff9b:1::/48", "local-use NAT64"},
		{"100::/64", "discard-only"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4 (it maps to IPv4 addresses, private ones included)"},
		{"fc00::/7", "unique local (ULA)"},
		{"fe80::/10", "link-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]struct {
		p   netip.Prefix
		why string
	}, len(list))
	for k, e := range list {
		out[k].p, out[k].why = netip.MustParsePrefix(e.cidr), e.why
	}
	return out
}()

// Policy is the operator's egress policy: which addresses no out-call may
// connect to. The zero value refuses every special-purpose network (refused
// above); AllowNetworks lets chosen ones through, such as 127.0.0.0/8 for a
// test or 10.1.2.0/24 for tenants' services on the operator's own network.
type Policy struct {
	AllowNetworks []netip.Prefix
}

// ParseNetworks parses CIDR prefixes for Policy.AllowNetworks; key names the
// setting in errors.
func ParseNetworks(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for k, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR prefix such as 127.0.0.0/8 or ::1/128", key, k, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// CheckAddr returns an *Error (abi.StatusDenied) when the policy refuses a
// connection to a, naming the address and the kind of network.
func (p *Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, n := range p.AllowNetworks {
		if n.Contains(a) {
			return nil
		}
	}
	for _, r := range refused {
		if r.p.Contains(a) {
			return &Error{Status: abi.StatusDenied, Msg: fmt.Sprintf(
				"address %s is %s, which the operator's egress policy refuses whatever the tenant's egress_allow lists (the operator may allow the network: egress.allow_networks)", a, r.why)}
		}
	}
	return nil
}

// Control is a net.Dialer Control function that applies the policy to the
// address being connected to, after name resolution: a name that resolves,
// or is rebound between two lookups, to a refused address is refused here,
// since this is the address the socket connects to.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Status: abi.StatusDenied, Msg: fmt.Sprintf("cannot check the address %q to connect to", address)}
	}
	return p.CheckAddr(ap.Addr())
}

// Dialer returns a net.Dialer that applies the policy at connect time.
func (p *Policy) Dialer() *net.Dialer {
	return &net.Dialer{Control: p.Control}
}
