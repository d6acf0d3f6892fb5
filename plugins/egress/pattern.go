package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Pattern is one destination of a tenant's grant: a scheme, a host (a name,
// a wildcard suffix or an IP address) and a port (or any port).
//
// # Grammar
//
//	pattern  = scheme "://" host [ ":" port ]
//	scheme   = "http" | "https"
//	host     = name | "*." name | ipv4 | "[" ipv6 "]"
//	name     = label *( "." label )    ; letters, digits, "-"; a label is 1 to 63
//	                                   ; characters and neither starts nor ends
//	                                   ; with "-"; at most 253 characters
//	port     = 1 to 65535 | "*"
//
// Nothing else is allowed: no path (not even "/"), query, fragment or
// userinfo. Names compare without regard to case. A port left out is the
// scheme's default (80 for http, 443 for https), so "https://api.example.com"
// allows https to port 443 only. "*." before a name matches any name with one
// or more labels before it: "*.corp.example" matches "a.corp.example" and
// "a.b.corp.example", not "corp.example". An IP address matches a URL that
// names that address literally, never a name that resolves to it. A "*" alone
// as host is not a pattern: a tenant lists its own services.
//
// What a pattern allows is then subject to the operator's Policy, on the
// address actually connected to.
type Pattern struct {
	Scheme string
	// Host is a lowercase name, the suffix after "*." when Wildcard, or the
	// canonical text of an IP address (IPv6 without brackets).
	Host     string
	Wildcard bool
	// Port is the port allowed; 0 allows any.
	Port uint16
	raw  string
}

// String returns the pattern as written in the tenant's settings, with the
// port made explicit: "https://api.example.com:443".
func (p Pattern) String() string { return p.raw }

// DefaultPort returns the port of scheme when a URL or pattern leaves it
// out: 80 for http, 443 for https.
func DefaultPort(scheme string) uint16 {
	if scheme == "https" {
		return 443
	}
	return 80
}

// ParsePattern parses one destination pattern (grammar: Pattern). Its
// errors quote the pattern and say what is wrong with it.
func ParsePattern(s string) (Pattern, error) {
	bad := func(why string) (Pattern, error) {
		return Pattern{}, fmt.Errorf("egress pattern %q: %s; want scheme://host[:port] such as \"https://api.example.com\" or \"http://*.corp.example:8080\"", s, why)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return bad("no scheme")
	}
	if scheme != "http" && scheme != "https" {
		return bad("scheme must be http or https")
	}
	if strings.ContainsAny(rest, "/?#@ \t\r\n") {
		return bad("only scheme, host and port: no path (not even \"/\"), query, fragment, userinfo or space")
	}
	p := Pattern{Scheme: scheme, Port: DefaultPort(scheme)}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("unclosed [ in an IPv6 address")
		}
		host, port = rest[1:end], rest[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return bad("[" + host + "] is not an IPv6 address")
		}
		p.Host = a.String()
		if port != "" && port[0] != ':' {
			return bad("want :port after ]")
		}
		port = strings.TrimPrefix(port, ":")
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return bad("empty port")
			}
		}
		host = strings.ToLower(host)
		if a, err := netip.ParseAddr(host); err == nil {
			if !a.Is4() {
				return bad("write an IPv6 address in brackets")
			}
			p.Host = a.String()
		} else {
			if suffix, ok := strings.CutPrefix(host, "*."); ok {
				p.Wildcard, host = true, suffix
			}
			if err := checkName(host); err != nil {
				return bad(err.Error())
			}
			p.Host = host
		}
	}
	switch port {
	case "":
	case "*":
		p.Port = 0
	default:
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return bad("port must be 1 to 65535 or *")
		}
		p.Port = uint16(n)
	}
	p.raw = p.format()
	return p, nil
}

func (p Pattern) format() string {
	h := p.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if p.Wildcard {
		h = "*." + h
	}
	port := "*"
	if p.Port != 0 {
		port = strconv.Itoa(int(p.Port))
	}
	return p.Scheme + "://" + h + ":" + port
}

// checkName checks a DNS name (lowercase) as the grammar defines it.
func checkName(s string) error {
	if s == "" {
		return errors.New("empty host")
	}
	if len(s) > 253 {
		return errors.New("host longer than 253 characters")
	}
	if strings.Contains(s, "*") {
		return errors.New("\"*\" only as a whole first label, \"*.\" followed by a name")
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("label %q must be 1 to 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with -", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("label %q has %q: letters, digits and - only", l, c)
			}
		}
	}
	return nil
}

// Match reports whether the pattern allows d.
func (p Pattern) Match(d Dest) bool {
	if p.Scheme != d.Scheme || (p.Port != 0 && p.Port != d.Port) {
		return false
	}
	if d.IP.IsValid() {
		return !p.Wildcard && p.Host == d.Host
	}
	if p.Wildcard {
		return strings.HasSuffix(d.Host, "."+p.Host)
	}
	return p.Host == d.Host
}

// Allow is a tenant's grant: the destinations its plugins may call.
type Allow []Pattern

// ParseAllow parses every pattern of list, reporting each one that does not
// parse (prefix names the setting in the messages, such as "egress_allow").
func ParseAllow(prefix string, list []string) (Allow, error) {
	var errs []error
	out := make(Allow, 0, len(list))
	for k, s := range list {
		p, err := ParsePattern(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", prefix, k, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// Match returns the first pattern that allows d.
func (a Allow) Match(d Dest) (Pattern, bool) {
	for _, p := range a {
		if p.Match(d) {
			return p, true
		}
	}
	return Pattern{}, false
}
