// Package outcall is the HTTP client of tenants' out-calls (imhook.http):
// one net/http Transport per tenant, with its own bounded pool of keep-alive
// connections, dialing only addresses the operator's egress.Policy allows.
// It implements plugins.HTTPClient; the sandbox has already checked the
// request and the tenant's grant, and bounds the time through the context.
//
// Why net/http and not fasthttp's client: the Dialer's Control hook checks
// the address each connection is made to, after DNS and for every Happy
// Eyeballs attempt, which is where the policy must be applied; TLS is
// verified by crypto/tls with no extra wiring; requests are bounded by a
// context (the callback's deadline) all the way through dial, TLS, headers
// and body; and redirects are under our control (CheckRedirect). An
// out-call waits on a network round trip of a millisecond or more, against
// which the microseconds net/http spends more than fasthttp do not show
// (docs/performance.md, "Out-calls").
package outcall

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/sdk/abi"
)

// Outcomes of an out-call, for Options.Observe (the "outcome" label).
const (
	OutcomeOK          = "ok"          // a response, whatever its status
	OutcomeDenied      = "denied"      // the operator's policy refused the address
	OutcomeTimeout     = "timeout"     // no response in time
	OutcomeTooLarge    = "too_large"   // the response body was over the cap
	OutcomeUnavailable = "unavailable" // connection, TLS or protocol failure
)

// Options configure a Pool.
type Options struct {
	// Policy is the operator's: the networks refused and those allowed.
	Policy egress.Policy
	// Observe, when set, is called after each out-call with the tenant, the
	// pattern of its grant that allowed it, the outcome and the time taken.
	Observe func(tenant, pattern, outcome string, d time.Duration)
	// RootCAs verifies servers' certificates; nil uses the system's.
	RootCAs *x509.CertPool
	// DialTimeout bounds connecting (the context may end it sooner); 0 is 5s.
	DialTimeout time.Duration
}

// Pool holds the client of every tenant. It is safe for concurrent use.
type Pool struct {
	opt     Options
	mu      sync.Mutex
	clients map[string]*Client
}

// New returns an empty Pool.
func New(opt Options) *Pool {
	if opt.DialTimeout == 0 {
		opt.DialTimeout = 5 * time.Second
	}
	return &Pool{opt: opt, clients: make(map[string]*Client)}
}

// Client returns tenant's client, the same one for every call with the same
// tenant, so that its keep-alive connections last across settings changes.
// idleConns bounds the idle connections it keeps (max_out_idle_conns); a
// new value replaces the transport, closing the old one's idle connections.
func (p *Pool) Client(tenant string, idleConns int) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[tenant]
	if c == nil {
		c = &Client{pool: p, tenant: tenant}
		p.clients[tenant] = c
	}
	c.configure(idleConns)
	return c
}

// Forget closes tenant's idle connections and drops its client (the tenant
// was deleted). A call still holding the client keeps working.
func (p *Pool) Forget(tenant string) {
	p.mu.Lock()
	c := p.clients[tenant]
	delete(p.clients, tenant)
	p.mu.Unlock()
	if c != nil {
		c.closeIdle()
	}
}

// Close closes every tenant's idle connections.
func (p *Pool) Close() {
	p.mu.Lock()
	cs := p.clients
	p.clients = make(map[string]*Client)
	p.mu.Unlock()
	for _, c := range cs {
		c.closeIdle()
	}
}

// Client sends one tenant's out-calls. It implements plugins.HTTPClient.
type Client struct {
	pool   *Pool
	tenant string

	mu   sync.Mutex
	idle int
	tr   *http.Transport
	hc   *http.Client
}

func (c *Client) configure(idleConns int) {
	idleConns = max(idleConns, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hc != nil && c.idle == idleConns {
		return
	}
	old := c.tr
	c.idle = idleConns
	c.tr = c.pool.newTransport(idleConns)
	c.hc = &http.Client{
		Transport: c.tr,
		// Redirects are returned to the plugin, never followed: following
		// one would send the request's headers (credentials) wherever the
		// service points and spend out-calls the plugin did not make.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if old != nil {
		old.CloseIdleConnections()
	}
}

func (c *Client) closeIdle() {
	c.mu.Lock()
	tr := c.tr
	c.mu.Unlock()
	if tr != nil {
		tr.CloseIdleConnections()
	}
}

// maxResponseHeaderBytes bounds a response's headers.
const maxResponseHeaderBytes = 64 << 10

func (p *Pool) newTransport(idle int) *http.Transport {
	d := &net.Dialer{Timeout: p.opt.DialTimeout, KeepAlive: 30 * time.Second, Control: p.opt.Policy.Control}
	return &http.Transport{
		// Never a proxy from the environment: the policy checks the
		// address connected to, which a proxy would hide.
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.opt.RootCAs},
		TLSHandshakeTimeout:    p.opt.DialTimeout,
		MaxIdleConns:           idle,
		MaxIdleConnsPerHost:    idle,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The plugin gets the bytes the service sent; a compressed body
		// would otherwise grow past the cap only after it was inflated.
		DisableCompression: true,
	}
}

// Do sends req and reads its response, whose body is at most
// req.MaxResponseBytes. ctx bounds the whole exchange.
func (c *Client) Do(ctx context.Context, req *egress.Request) (*abi.HTTPResponse, error) {
	start := time.Now()
	resp, outcome, err := c.do(ctx, req)
	if o := c.pool.opt.Observe; o != nil {
		o(c.tenant, req.Pattern, outcome, time.Since(start))
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req *egress.Request) (*abi.HTTPResponse, string, error) {
	c.mu.Lock()
	hc := c.hc
	c.mu.Unlock()
	what := req.Method + " " + req.Dest.String()
	var body io.Reader
	if len(req.Body) > 0 {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return nil, OutcomeUnavailable, &egress.Error{Status: abi.StatusInvalid, Msg: what + ": " + unwrapURL(err).Error()}
	}
	for _, h := range req.Header {
		hr.Header[http.CanonicalHeaderKey(h[0])] = append(hr.Header[http.CanonicalHeaderKey(h[0])], h[1])
	}
	if _, ok := hr.Header["User-Agent"]; !ok {
		hr.Header["User-Agent"] = []string{"imhook"}
	}
	resp, err := hc.Do(hr)
	if err != nil {
		outcome, err := classify(ctx, what, err)
		return nil, outcome, err
	}
	defer resp.Body.Close()
	limit := req.MaxResponseBytes
	if resp.ContentLength > int64(limit) {
		return nil, OutcomeTooLarge, tooLarge(what, strconv.FormatInt(resp.ContentLength, 10), limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		outcome, err := classify(ctx, what+" (reading the body)", err)
		return nil, outcome, err
	}
	if len(b) > limit {
		return nil, OutcomeTooLarge, tooLarge(what, "more than "+strconv.Itoa(limit), limit)
	}
	return &abi.HTTPResponse{Status: resp.StatusCode, Header: flatten(resp.Header), Body: b}, OutcomeOK, nil
}

func tooLarge(what, n string, limit int) error {
	return &egress.Error{Status: abi.StatusQuota, Msg: fmt.Sprintf("%s: response body of %s bytes > max_out_response_bytes[%d]; ask the service for less, or the operator for a larger limit", what, n, limit)}
}

// classify turns a transport error into an *egress.Error and an outcome.
// Messages name the method and destination, never the URL's path or query
// nor any header.
func classify(ctx context.Context, what string, err error) (string, error) {
	var e *egress.Error
	if errors.As(err, &e) {
		return OutcomeDenied, &egress.Error{Status: e.Status, Msg: what + ": " + e.Msg}
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return OutcomeTimeout, &egress.Error{Status: abi.StatusTimeout, Msg: what + ": no response before the out-call's deadline (out_call_timeout, or what was left of the callback's)"}
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return OutcomeUnavailable, &egress.Error{Status: abi.StatusUnavailable, Msg: what + ": the server's TLS certificate does not verify: " + ce.Err.Error()}
	}
	return OutcomeUnavailable, &egress.Error{Status: abi.StatusUnavailable, Msg: what + ": " + unwrapURL(err).Error()}
}

// unwrapURL drops the *url.Error wrapper net/http puts around its errors,
// which quotes the whole URL (its query may hold a secret).
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// flatten turns a response's headers into name and value pairs, sorted by
// name, values in the order received.
func flatten(h http.Header) [][2]string {
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
