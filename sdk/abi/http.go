package abi

// Out-calls (docs/abi.md, "imhook.http"). FuncHTTP and FuncSecret need the
// "http" grant.
const (
	// FuncHTTP is imported by the guest:
	// (reqPtr i32, reqLen i32, bufPtr i32, bufCap i32) -> i32.
	// It sends the HTTP request encoded at [reqPtr, reqPtr+reqLen) (see
	// AppendHTTPRequest) to the tenant's service and returns the length of
	// the encoded response (see ParseHTTPResponse), written at bufPtr when it
	// fits in bufCap and kept for FuncTakeResult otherwise; or a Status. A
	// response with any HTTP status (a 404, a 500) is a success: the
	// Status is for requests that got no response.
	FuncHTTP = "http"
	// FuncSecret is imported by the guest:
	// (namePtr i32, nameLen i32, bufPtr i32, bufCap i32) -> i32.
	// It returns the length of the tenant's secret named name, written at
	// bufPtr when it fits (FuncTakeResult otherwise), or StatusNotFound.
	// A plugin that only sends a secret in a header does not need it: a
	// header value "{{secret:NAME}}" is replaced by the host.
	FuncSecret = "secret"
)

// HTTPRequest is an out-call as the guest hands it to FuncHTTP.
type HTTPRequest struct {
	Method string
	URL    string
	// Header holds name and value pairs, in order; a name may repeat.
	Header [][2]string
	Body   []byte
}

// HTTPResponse is what FuncHTTP returns.
type HTTPResponse struct {
	Status int
	Header [][2]string
	Body   []byte
}

// The encoding is length-prefixed, every integer a little-endian u32:
//
//	request:  method_len method url_len url header_count
//	          (name_len name value_len value)* body_len body
//	response: status header_count (name_len name value_len value)*
//	          body_len body
//
// The encoding must fill its length exactly: trailing bytes are an error.

// AppendHTTPRequest appends the encoding of r to b.
func AppendHTTPRequest(b []byte, r *HTTPRequest) []byte {
	b = appendBytes(b, r.Method)
	b = appendBytes(b, r.URL)
	b = appendHeader(b, r.Header)
	return appendBytes(b, r.Body)
}

// AppendHTTPResponse appends the encoding of r to b.
func AppendHTTPResponse(b []byte, r *HTTPResponse) []byte {
	b = appendU32(b, uint32(r.Status))
	b = appendHeader(b, r.Header)
	return appendBytes(b, r.Body)
}

// ParseHTTPRequest decodes a request. Strings and Body are copies.
func ParseHTTPRequest(b []byte) (HTTPRequest, error) {
	d := decoder{b: b}
	var r HTTPRequest
	r.Method = string(d.bytes())
	r.URL = string(d.bytes())
	r.Header = d.header()
	if body := d.bytes(); len(body) > 0 {
		r.Body = append([]byte(nil), body...)
	}
	return r, d.finish("request")
}

// ParseHTTPResponse decodes a response. Strings and Body are copies.
func ParseHTTPResponse(b []byte) (HTTPResponse, error) {
	d := decoder{b: b}
	var r HTTPResponse
	r.Status = int(d.u32())
	r.Header = d.header()
	if body := d.bytes(); len(body) > 0 {
		r.Body = append([]byte(nil), body...)
	}
	return r, d.finish("response")
}

func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

func appendHeader(b []byte, h [][2]string) []byte {
	b = appendU32(b, uint32(len(h)))
	for _, kv := range h {
		b = appendBytes(b, kv[0])
		b = appendBytes(b, kv[1])
	}
	return b
}

// EncodingError is a malformed request or response encoding.
type EncodingError struct{ What, Why string }

func (e *EncodingError) Error() string { return "malformed " + e.What + " encoding: " + e.Why }

type decoder struct {
	b   []byte
	bad string
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		if d.bad == "" {
			d.bad = "truncated"
		}
		d.b = nil
		return 0
	}
	v := uint32(d.b[0]) | uint32(d.b[1])<<8 | uint32(d.b[2])<<16 | uint32(d.b[3])<<24
	d.b = d.b[4:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if uint64(n) > uint64(len(d.b)) {
		if d.bad == "" {
			d.bad = "a length of " + itoa(int64(n)) + " runs past the end"
		}
		d.b = nil
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) header() [][2]string {
	n := d.u32()
	// Each pair takes 8 bytes at least: a count beyond that is malformed,
	// and must not size an allocation.
	if uint64(n)*8 > uint64(len(d.b)) {
		if d.bad == "" {
			d.bad = "a header count of " + itoa(int64(n)) + " runs past the end"
		}
		d.b = nil
		return nil
	}
	var h [][2]string
	if n > 0 {
		h = make([][2]string, n)
	}
	for k := range h {
		h[k][0] = string(d.bytes())
		h[k][1] = string(d.bytes())
	}
	return h
}

func (d *decoder) finish(what string) error {
	if d.bad == "" && len(d.b) > 0 {
		d.bad = itoa(int64(len(d.b))) + " bytes after the body"
	}
	if d.bad != "" {
		return &EncodingError{What: what, Why: d.bad}
	}
	return nil
}
