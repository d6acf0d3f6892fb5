package egress

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/imhook/imhook/sdk/abi"
)

// Error is a refused out-call: its Status says how (abi.StatusDenied for a
// destination or address not allowed, abi.StatusInvalid for a malformed
// request), its message what and what to do. Messages never quote header
// values or bodies, which may hold secrets.
type Error struct {
	Status abi.Status
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func invalid(format string, args ...any) *Error {
	return &Error{Status: abi.StatusInvalid, Msg: fmt.Sprintf(format, args...)}
}

// Dest is where a URL points: its scheme, host (lowercase name or canonical
// IP text) and port (the scheme's default when the URL has none).
type Dest struct {
	Scheme string
	Host   string
	Port   uint16
	// IP is set when the URL names an IP address literally.
	IP netip.Addr
}

// String returns the destination as "scheme://host:port".
func (d Dest) String() string {
	h := d.Host
	if d.IP.Is6() {
		h = "[" + h + "]"
	}
	return d.Scheme + "://" + h + ":" + strconv.Itoa(int(d.Port))
}

// Methods are the request methods a plugin may use. CONNECT (a tunnel) and
// TRACE (echoes the request, headers included) are not among them.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// hostHeaders are headers the transport writes itself: a plugin setting them
// could desynchronise the request framing or redirect it.
var hostHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "upgrade": true, "te": true, "trailer": true,
	"proxy-connection": true, "proxy-authorization": true, "proxy-authenticate": true,
}

// CheckRequest checks an out-call's method, URL and header names and values,
// and returns its destination. It does not check the destination against a
// grant (Allow.Match) nor the address (Policy). The errors are *Error with
// abi.StatusInvalid.
func CheckRequest(method, rawURL string, header [][2]string) (Dest, error) {
	if !validMethod(method) {
		return Dest{}, invalid("method %q is not allowed; use one of %s", method, strings.Join(Methods, ", "))
	}
	d, err := ParseURL(rawURL)
	if err != nil {
		return Dest{}, err
	}
	for _, h := range header {
		if err := checkHeader(h[0], h[1]); err != nil {
			return Dest{}, err
		}
	}
	return d, nil
}

func validMethod(m string) bool {
	for _, ok := range Methods {
		if m == ok {
			return true
		}
	}
	return false
}

// maxURLBytes bounds a URL: longer ones are refused by most servers anyway.
const maxURLBytes = 8 << 10

// ParseURL checks an absolute http or https URL without userinfo and returns
// its destination.
func ParseURL(rawURL string) (Dest, error) {
	if len(rawURL) > maxURLBytes {
		return Dest{}, invalid("URL of %d bytes is longer than %d", len(rawURL), maxURLBytes)
	}
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c < 0x21 || c == 0x7f {
			return Dest{}, invalid("URL has a control character or space at byte %d; percent-encode it", i)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return Dest{}, invalid("URL does not parse: %v", stripURL(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Dest{}, invalid("URL scheme %q: want http or https", u.Scheme)
	}
	if u.User != nil {
		return Dest{}, invalid("URL has userinfo (user:password@); send credentials in a header, such as Authorization: Bearer {{secret:NAME}}")
	}
	if u.Opaque != "" || u.Host == "" {
		return Dest{}, invalid("URL has no host: want scheme://host[:port]/path")
	}
	d := Dest{Scheme: u.Scheme, Port: DefaultPort(u.Scheme)}
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return Dest{}, invalid("URL port %q: want 1 to 65535", p)
		}
		d.Port = uint16(n)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return Dest{}, invalid("URL host %q has an IPv6 zone", host)
		}
		d.IP = a.Unmap()
		d.Host = d.IP.String()
		return d, nil
	}
	host = strings.TrimSuffix(host, ".")
	if err := checkName(host); err != nil {
		return Dest{}, invalid("URL host: %v", err)
	}
	d.Host = host
	return d, nil
}

// stripURL returns url.Parse's error without the URL it quotes, which may
// hold a secret in its query.
func stripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// checkHeader refuses a header whose name is not an RFC 9110 token or is
// one the transport owns, or whose value holds CR, LF or NUL (which would
// inject headers or requests). The message names the header, never quotes
// its value.
func checkHeader(name, value string) error {
	if name == "" {
		return invalid("empty header name")
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return invalid("header name %q has %q: want an RFC 9110 token (letters, digits and !#$%%&'*+-.^_`|~)", name, name[i])
		}
	}
	if hostHeaders[strings.ToLower(name)] {
		return invalid("header %s is set by the host and cannot be sent by a plugin", name)
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '\r' || c == '\n' || c == 0 || (c < 0x20 && c != '\t') || c == 0x7f {
			return invalid("value of header %s has a control character at byte %d (CR, LF and NUL would inject headers)", name, i)
		}
	}
	return nil
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// Request is one out-call as the sandbox hands it to the HTTP client, after
// CheckRequest and the tenant's grant (Allow.Match) let it through.
type Request struct {
	// Tenant is the tenant making it; Pattern the pattern of its grant that
	// allowed it (a bounded label for metrics, unlike the host); Dest its
	// destination.
	Tenant  string
	Pattern string
	Dest    Dest
	abi.HTTPRequest
	// MaxResponseBytes caps the response body: a longer one fails the
	// out-call with abi.StatusQuota.
	MaxResponseBytes int
}
