package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/admin/admintest"
)

// singleMsg is a callbackBeforeSendSingleMsgCommand body as OpenIM sends it.
const singleMsg = `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"user_a","recvID":"user_b",` +
	`"serverMsgID":"a3f1","clientMsgID":"5e8a","operationID":"op-1","senderPlatformID":1,"senderNickname":"Alice",` +
	`"sessionType":1,"msgFrom":100,"contentType":101,"status":1,"sendTime":1719812345678,"createTime":1719812345600,` +
	`"content":"{\"content\":\"hello\"}","seq":0,"atUserList":null,"faceURL":"","ex":""}` + "\n"

// fixture returns the bytes of testdata/<name>.wasm (sources next to them).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client calls one admin API with one token.
type client struct {
	t     *testing.T
	base  string
	token string
}

// response is a finished call.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode decodes the body into v, failing the test on error.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errMsg returns the error message of an error response.
func (r response) errMsg(t *testing.T) string {
	t.Helper()
	var e admin.ErrorBody
	r.decode(t, &e)
	return e.Error
}

// want fails the test unless the status is status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	return r
}

// do sends a request. body may be nil, a []byte or string (sent as is with
// ctype) or any other value (sent as JSON). hdr are extra header pairs. It
// fails the test on a transport error.
func (c client) do(method, path string, body any, ctype string, hdr ...string) response {
	c.t.Helper()
	r, err := c.send(method, path, body, ctype, hdr...)
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

// send is do for other goroutines than the test's: it returns the error.
func (c client) send(method, path string, body any, ctype string, hdr ...string) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(j)
		if ctype == "" {
			ctype = "application/json"
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// env is a running API with an operator client and two tenants, a and b.
type env struct {
	srv      *admintest.Server
	op, a, b client
	anon     client
}

// setup starts an API with opt and creates tenants "a" and "b".
func setup(t *testing.T, opt admin.Options) *env {
	t.Helper()
	srv := admintest.Start(t, opt)
	e := &env{srv: srv}
	e.op = client{t, srv.URL, srv.OperatorToken}
	e.anon = client{t, srv.URL, ""}
	e.a = client{t, srv.URL, e.createTenant(t, "a")}
	e.b = client{t, srv.URL, e.createTenant(t, "b")}
	return e
}

// createTenant creates tenant id and returns its token.
func (e *env) createTenant(t *testing.T, id string) string {
	t.Helper()
	var out admin.TenantToken
	e.op.do("POST", "/v1/tenants", map[string]any{"id": id}, "").want(t, http.StatusCreated).decode(t, &out)
	if out.Tenant.ID != id || !strings.HasPrefix(out.Token, id+".") {
		t.Fatalf("created %+v", out)
	}
	return out.Token
}

// upload uploads a fixture as a version of tenant's plugin and returns the
// response.
func (c client) upload(tenant, plugin, fixtureName string, query string) response {
	c.t.Helper()
	return c.do("POST", "/v1/tenants/"+tenant+"/plugins/"+plugin+"/versions"+query, fixture(c.t, fixtureName), "application/wasm")
}
