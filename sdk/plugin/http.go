package plugin

import (
	"sort"

	"github.com/imhook/imhook/sdk/abi"
)

// HTTP returns the client of the tenant's out-calls: HTTP requests to the
// tenant's own services, as granted by the operator (the "http" grant and
// the tenant's egress_allow list; docs/sdk.md, "Out-calls").
//
//	resp, err := c.HTTP().Post(base+"/read", "application/json", body)
//	if errors.Is(err, plugin.ErrDenied) { ... } // not in egress_allow
//
// Each out-call waits for its response within the callback's deadline (and
// the tenant's out_call_timeout), and a call makes at most max_out_calls of
// them. Redirects are not followed: a 3xx is a response like any other.
func (c *Context) HTTP() *HTTPClient { return &HTTPClient{c: c} }

// HTTPClient sends out-calls; get it from Context.HTTP. Like the Context,
// it is valid only during the handler call.
type HTTPClient struct{ c *Context }

// Request is an out-call, shaped like net/http's (which the SDK does not
// import: it would weigh on every plugin).
type Request struct {
	Method string // GET when empty
	URL    string // absolute http or https URL, without user:password@
	Header Header
	Body   []byte
}

// Response is an out-call's response. Any HTTP status is a response, 404
// and 500 included: Do's error is for requests that got none.
type Response struct {
	StatusCode int
	Header     Header
	Body       []byte
}

// Header is a request's or response's headers, keyed by canonical name
// ("Content-Type"), like net/http.Header. A value may name a tenant secret,
// "Bearer {{secret:api_token}}": imhook substitutes it, so the plugin never
// holds the credential.
type Header map[string][]string

// Add appends value to the values of name.
func (h Header) Add(name, value string) {
	k := CanonicalHeaderKey(name)
	h[k] = append(h[k], value)
}

// Set replaces the values of name with value.
func (h Header) Set(name, value string) { h[CanonicalHeaderKey(name)] = []string{value} }

// Get returns the first value of name, or "".
func (h Header) Get(name string) string {
	if vs := h[CanonicalHeaderKey(name)]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Values returns the values of name.
func (h Header) Values(name string) []string { return h[CanonicalHeaderKey(name)] }

// CanonicalHeaderKey returns name with the first letter and each letter
// after a hyphen upper case and the others lower case, as net/http does;
// a name with characters other than letters, digits and "-" is returned
// unchanged.
func CanonicalHeaderKey(name string) string {
	upper := true
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return name
		}
		want := c
		if upper && c >= 'a' && c <= 'z' {
			want = c - 'a' + 'A'
		} else if !upper && c >= 'A' && c <= 'Z' {
			want = c - 'A' + 'a'
		}
		if want != c && b == nil {
			b = []byte(name)
		}
		if b != nil {
			b[i] = want
		}
		upper = c == '-'
	}
	if b == nil {
		return name
	}
	return string(b)
}

// NewRequest returns a request with an empty Header.
func NewRequest(method, url string, body []byte) *Request {
	return &Request{Method: method, URL: url, Header: Header{}, Body: body}
}

// Do sends req and returns its response. Errors are *HostError: compare
// them with errors.Is to ErrDenied (not granted, or an address the
// operator refuses), ErrQuota (max_out_calls, max_out_concurrency, a body
// over its cap), ErrInvalid (a bad method, URL or header), ErrUnavailable
// (the connection or TLS failed) and ErrTimeout; the message says which and
// what to do.
func (h *HTTPClient) Do(req *Request) (*Response, error) {
	oh, ok := h.c.host.(outHost)
	if !ok {
		return nil, &HostError{Status: abi.StatusUnavailable, Msg: "http: this host makes no out-calls"}
	}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	ar := abi.HTTPRequest{Method: method, URL: req.URL, Body: req.Body, Header: flattenHeader(req.Header)}
	resp, err := oh.roundTrip(&ar)
	if err != nil {
		return nil, err
	}
	out := &Response{StatusCode: resp.Status, Body: resp.Body, Header: make(Header, len(resp.Header))}
	for _, kv := range resp.Header {
		out.Header.Add(kv[0], kv[1])
	}
	return out, nil
}

// Get sends a GET request to url.
func (h *HTTPClient) Get(url string) (*Response, error) {
	return h.Do(&Request{Method: "GET", URL: url})
}

// Post sends a POST request to url with body of contentType.
func (h *HTTPClient) Post(url, contentType string, body []byte) (*Response, error) {
	return h.Do(&Request{Method: "POST", URL: url, Header: Header{"Content-Type": {contentType}}, Body: body})
}

// Secret returns the tenant's secret named name (grant "http"), or an error
// matching ErrNotFound. To send a secret in a header, prefer a
// "{{secret:NAME}}" reference in the header's value: the plugin then never
// holds it.
func (c *Context) Secret(name string) (string, error) {
	oh, ok := c.host.(outHost)
	if !ok {
		return "", &HostError{Status: abi.StatusUnavailable, Msg: "secret: this host has no secrets"}
	}
	return oh.secret(name)
}

// outHost is the host's side of out-calls and secrets, implemented by
// the WebAssembly host (http_wasip1.go) and natively by Host.
type outHost interface {
	roundTrip(req *abi.HTTPRequest) (*abi.HTTPResponse, error)
	secret(name string) (string, error)
}

// flattenHeader lists h's pairs sorted by name, each name's values in order.
func flattenHeader(h Header) [][2]string {
	if len(h) == 0 {
		return nil
	}
	names := make([]string, 0, len(h))
	n := 0
	for k, vs := range h {
		names = append(names, k)
		n += len(vs)
	}
	sort.Strings(names)
	out := make([][2]string, 0, n)
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}
