package plugin

import "github.com/imhook/imhook/sdk/abi"

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

// Header is a request's or response's header fields, in order, as name and
// value pairs; a name may repeat. Names compare without regard to case.
// Its methods are net/http.Header's, but it is a slice rather than a map:
// in the guest a map costs about 10 000 instructions to create and fill,
// more than the rest of building a request. A value may name a tenant
// secret, "Bearer {{secret:api_token}}": imhook substitutes it, so the
// plugin never holds the credential.
type Header [][2]string

// Add appends a field.
func (h *Header) Add(name, value string) { *h = append(*h, [2]string{name, value}) }

// Set replaces the fields named name with one of value.
func (h *Header) Set(name, value string) {
	h.Del(name)
	h.Add(name, value)
}

// Del removes the fields named name.
func (h *Header) Del(name string) {
	out := (*h)[:0]
	for _, f := range *h {
		if !equalFold(f[0], name) {
			out = append(out, f)
		}
	}
	*h = out
}

// Get returns the value of the first field named name, or "".
func (h Header) Get(name string) string {
	for _, f := range h {
		if equalFold(f[0], name) {
			return f[1]
		}
	}
	return ""
}

// Values returns the values of the fields named name, in order.
func (h Header) Values(name string) []string {
	var out []string
	for _, f := range h {
		if equalFold(f[0], name) {
			out = append(out, f[1])
		}
	}
	return out
}

// equalFold compares two header names without regard to ASCII case.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x != y {
			if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
				return false
			}
		}
	}
	return true
}

// NewRequest returns a request without header fields.
func NewRequest(method, url string, body []byte) *Request {
	return &Request{Method: method, URL: url, Body: body}
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
	ar := abi.HTTPRequest{Method: method, URL: req.URL, Body: req.Body, Header: req.Header}
	resp, err := oh.roundTrip(&ar)
	if err != nil {
		return nil, err
	}
	return &Response{StatusCode: resp.Status, Body: resp.Body, Header: resp.Header}, nil
}

// Get sends a GET request to url.
func (h *HTTPClient) Get(url string) (*Response, error) {
	return h.Do(&Request{Method: "GET", URL: url})
}

// Post sends a POST request to url with body of contentType.
func (h *HTTPClient) Post(url, contentType string, body []byte) (*Response, error) {
	return h.Do(&Request{Method: "POST", URL: url, Header: Header{{"Content-Type", contentType}}, Body: body})
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
