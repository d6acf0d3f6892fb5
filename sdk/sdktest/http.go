//go:build !wasip1

package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/plugin"
)

// AllowHTTP lets the handlers' out-calls (Context.HTTP) reach the given
// origins, scheme://host[:port] such as an httptest.Server's URL, and
// sends them natively with net/http:
//
//	srv := httptest.NewServer(handler)
//	h := sdktest.New(t, map[string]string{"service_url": srv.URL})
//	h.AllowHTTP(srv.URL)
//
// As in imhook, a destination not allowed fails with plugin.ErrDenied,
// redirects are returned rather than followed, and a response body over
// 1 MiB (imhook's default max_out_response_bytes) fails with
// plugin.ErrQuota; each out-call has 5 seconds. imhook's other limits
// (max_out_calls, the operator's network policy) are not applied here:
// `imhook run` applies them all.
func (h *Harness) AllowHTTP(origins ...string) {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			h.t.Fatalf("sdktest: AllowHTTP(%q): want scheme://host[:port]", o)
		}
		h.allowed = append(h.allowed, origin(u))
	}
	if h.client == nil {
		h.client = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	h.host.HTTP = h.roundTrip
}

// SetSecret sets a tenant secret, which Context.Secret returns and
// "{{secret:NAME}}" in out-call header values stands for.
func (h *Harness) SetSecret(name, value string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.host.Secrets == nil {
		h.host.Secrets = map[string]string{}
	}
	h.host.Secrets[name] = value
}

// origin returns scheme://host:port with the default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

const maxResponseBytes = 1 << 20

func (h *Harness) roundTrip(r *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return nil, &plugin.HostError{Status: abi.StatusInvalid, Msg: fmt.Sprintf("http: URL %q: want an absolute http or https URL", r.URL)}
	}
	if u.User != nil {
		return nil, &plugin.HostError{Status: abi.StatusInvalid, Msg: "http: URL has userinfo (user:password@); send credentials in a header"}
	}
	h.mu.Lock()
	allowed, client := h.allowed, h.client
	h.mu.Unlock()
	o := origin(u)
	ok := false
	for _, a := range allowed {
		ok = ok || a == o
	}
	if !ok {
		return nil, &plugin.HostError{Status: abi.StatusDenied, Msg: fmt.Sprintf("http: destination %s is not allowed (sdktest: Harness.AllowHTTP; in imhook, the tenant's egress_allow); allowed: %s", o, strings.Join(allowed, ", "))}
	}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, &plugin.HostError{Status: abi.StatusInvalid, Msg: "http: " + err.Error()}
	}
	for _, kv := range r.Header {
		req.Header.Add(kv[0], kv[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &plugin.HostError{Status: abi.StatusUnavailable, Msg: "http: " + r.Method + " " + o + ": " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &plugin.HostError{Status: abi.StatusUnavailable, Msg: "http: reading the body: " + err.Error()}
	}
	if len(b) > maxResponseBytes {
		return nil, &plugin.HostError{Status: abi.StatusQuota, Msg: fmt.Sprintf("http: response body over %d bytes (max_out_response_bytes)", maxResponseBytes)}
	}
	out := &abi.HTTPResponse{Status: resp.StatusCode, Body: b}
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			out.Header = append(out.Header, [2]string{k, v})
		}
	}
	return out, nil
}
