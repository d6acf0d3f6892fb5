package console

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/valyala/fasthttp"
)

// apiAddr is the remote address of the console's in-process API calls.
var apiAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}

// apiResult is the admin API's answer to one call.
type apiResult struct {
	status int
	body   []byte
}

// ok reports a 2xx answer.
func (r apiResult) ok() bool { return r.status >= 200 && r.status < 300 }

// err returns the API's error message, for showing to the user, or nil on
// success.
func (r apiResult) err() error {
	if r.ok() {
		return nil
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(r.body, &e) == nil && e.Error != "" {
		return &apiError{status: r.status, msg: e.Error}
	}
	return &apiError{status: r.status, msg: fmt.Sprintf("the admin API answered %d", r.status)}
}

// decode unmarshals a successful answer into v.
func (r apiResult) decode(v any) error {
	if err := r.err(); err != nil {
		return err
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &apiError{status: fasthttp.StatusInternalServerError, msg: "the admin API's answer does not decode: " + err.Error()}
	}
	return nil
}

// apiError is a refusal or failure of the admin API, shown as it is.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// call runs one request through the admin API in this process, as the
// session's token: every read and change the console makes is the API's,
// with the API's authorization, validation and audit log. Nothing here
// decides who may see what.
func (c *Console) call(s *session, method, path, contentType string, body []byte) apiResult {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost("localhost")
	req.Header.Set(fasthttp.HeaderAuthorization, "Bearer "+s.token)
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	req.SetBody(body)
	var rc fasthttp.RequestCtx
	rc.Init(&req, apiAddr, nil)
	c.api(&rc)
	return apiResult{status: rc.Response.StatusCode(), body: append([]byte(nil), rc.Response.Body()...)}
}

// get is call for a GET decoding the answer into v.
func (c *Console) get(s *session, path string, v any) error {
	return c.call(s, fasthttp.MethodGet, path, "", nil).decode(v)
}

// send is call with a JSON body (nil for none), decoding the answer into v
// when v is not nil.
func (c *Console) send(s *session, method, path string, in, v any) error {
	var body []byte
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = b, "application/json"
	}
	r := c.call(s, method, path, ct, body)
	if v == nil {
		return r.err()
	}
	return r.decode(v)
}
