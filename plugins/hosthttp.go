package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/sdk/abi"
)

// HTTPClient sends the out-calls of one tenant's plugins (abi.FuncHTTP).
// The host injects it through SandboxOptions.HTTP (plugins/outcall is the
// server's), so that the sandbox links no HTTP client: the sandbox checks
// the request, the tenant's grant and the per-call limits, the client
// connects under the operator's policy (egress.Policy, on the resolved
// address) and returns the response, or an error.
//
// Do returns an *egress.Error for failures with a status of their own
// (denied by the operator's policy, a response over MaxResponseBytes, a
// timeout); any other error counts as abi.StatusUnavailable. Error messages
// must not quote header values, bodies or URLs' queries: they reach the
// guest and logs, and headers may hold the tenant's secrets.
type HTTPClient interface {
	Do(ctx context.Context, req *egress.Request) (*abi.HTTPResponse, error)
}

// Costs of the out-call host functions, in instructions. An out-call's
// real cost is its wait, which gives the CPU slot up (offCPU) and is
// bounded by max_out_calls and out_call_timeout; the instructions bill the
// host's work on it (encoding, the transport's bookkeeping, about 15-30 us).
const (
	hostHTTPCost   = 100_000
	hostSecretCost = hostCallCost
)

// maxOutHeadBytes bounds an out-call's method, URL and headers together;
// the body has its own limit (max_out_request_bytes).
const maxOutHeadBytes = 64 << 10

// secretRef is how a header value names a tenant secret for the host to
// substitute: "Bearer {{secret:api_token}}".
const secretRefOpen, secretRefClose = "{{secret:", "}}"

// hostHTTP implements abi.FuncHTTP:
// (reqPtr i32, reqLen i32, bufPtr i32, bufCap i32) -> i32.
func hostHTTP(c hostCall) {
	i, stack := c.i, c.stack
	reqPtr, reqLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	bufPtr, bufCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	c.bill(uint64(reqLen))
	st := i.p.t.state.Load()
	lim := i.p.lim
	if i.ctx == nil || i.command == "" {
		c.fail(abi.StatusUnavailable, errors.New("out-calls are made by a callback's handler, not while the instance starts (_initialize, Go init functions)"))
		return
	}
	if i.outCalls >= lim.MaxOutCalls {
		c.fail(abi.StatusQuota, fmt.Errorf("this call already made %d out-calls = max_out_calls[%d]; make fewer per callback or ask the operator to raise the limit", i.outCalls, lim.MaxOutCalls))
		return
	}
	if max := uint64(lim.MaxOutRequestBytes) + maxOutHeadBytes; uint64(reqLen) > max {
		c.fail(abi.StatusQuota, fmt.Errorf("request of %d bytes > max_out_request_bytes[%d] plus %d for method, URL and headers", reqLen, lim.MaxOutRequestBytes, maxOutHeadBytes))
		return
	}
	raw := c.read("request", reqPtr, reqLen)
	hr, err := abi.ParseHTTPRequest(raw)
	if err != nil {
		c.fail(abi.StatusInvalid, fmt.Errorf("%w (docs/abi.md, imhook.http)", err))
		return
	}
	if len(hr.Body) > lim.MaxOutRequestBytes {
		c.fail(abi.StatusQuota, fmt.Errorf("request body of %d bytes > max_out_request_bytes[%d]", len(hr.Body), lim.MaxOutRequestBytes))
		return
	}
	if head := len(raw) - len(hr.Body); head > maxOutHeadBytes {
		c.fail(abi.StatusQuota, fmt.Errorf("method, URL and headers of %d bytes > %d", head, maxOutHeadBytes))
		return
	}
	dest, err := egress.CheckRequest(hr.Method, hr.URL, hr.Header)
	if err != nil {
		c.failOut(err)
		return
	}
	pat, ok := st.egress.Match(dest)
	if !ok {
		c.fail(abi.StatusDenied, fmt.Errorf("destination %s is not in the tenant's egress_allow (%s); the operator adds it to the tenant's settings", dest, st.egressList()))
		return
	}
	if err := st.substituteSecrets(hr.Header); err != nil {
		c.fail(abi.StatusInvalid, err)
		return
	}
	if st.http == nil {
		c.fail(abi.StatusUnavailable, errors.New("out-calls are not made here (a dry run, or a sandbox without an HTTP client); they run in callbacks"))
		return
	}
	timeout := lim.OutCallTimeout
	if dl, ok := i.ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			c.fail(abi.StatusTimeout, errors.New("the callback's deadline has passed: no time is left for an out-call"))
			return
		}
		timeout = min(timeout, left)
	}
	t := i.p.t
	if n := t.outInFlight.Add(1); n > int64(lim.MaxOutConcurrency) {
		t.outInFlight.Add(-1)
		c.fail(abi.StatusQuota, fmt.Errorf("the tenant has %d out-calls in flight = max_out_concurrency[%d]; retry later or ask the operator to raise the limit", n-1, lim.MaxOutConcurrency))
		return
	}
	i.outCalls++
	req := &egress.Request{Tenant: t.id, Pattern: pat.String(), Dest: dest, HTTPRequest: hr, MaxResponseBytes: lim.MaxOutResponseBytes}
	var resp *abi.HTTPResponse
	start := time.Now()
	i.offCPU(abi.FuncHTTP, func() {
		defer t.outInFlight.Add(-1)
		ctx, cancel := context.WithTimeout(i.ctx, timeout)
		defer cancel()
		// An abort (the tenant deleted, the version replaced) ends the wait.
		i.waitCancel.Store(&cancel)
		defer i.waitCancel.Store(nil)
		if i.stop.Load() != nil {
			cancel() // aborted before the store above could be seen
		}
		resp, err = st.http.Do(ctx, req)
		if err != nil && ctx.Err() != nil && !errors.As(err, new(*egress.Error)) {
			err = &egress.Error{Status: abi.StatusTimeout, Msg: fmt.Sprintf("%s %s: no response within %s (out_call_timeout[%s], or what was left of the callback's deadline)", hr.Method, dest, timeout.Round(time.Millisecond), lim.OutCallTimeout)}
		}
	})
	i.outTime += time.Since(start)
	i.checkAbort()
	if err != nil {
		c.failOut(err)
		return
	}
	out := abi.AppendHTTPResponse(make([]byte, 0, 64+len(resp.Body)), resp)
	// The response bytes are billed once they are known, at the per-byte rate.
	i.hostEnter(c.f.name, uint64(len(out))*c.f.rates[0].n)
	c.output(bufPtr, bufCap, out)
}

// failOut ends an out-call with err's status: an *egress.Error's own,
// StatusUnavailable for anything else.
func (c hostCall) failOut(err error) {
	var e *egress.Error
	if errors.As(err, &e) {
		c.fail(e.Status, e)
		return
	}
	c.fail(abi.StatusUnavailable, err)
}

// hostSecret implements abi.FuncSecret:
// (namePtr i32, nameLen i32, bufPtr i32, bufCap i32) -> i32.
func hostSecret(c hostCall) {
	stack := c.stack
	namePtr, nameLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	bufPtr, bufCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	name := c.read("name", namePtr, nameLen)
	v, ok := c.i.p.t.state.Load().secrets[string(name)]
	c.bill(uint64(nameLen) + uint64(len(v)))
	if !ok {
		c.fail(abi.StatusNotFound, fmt.Errorf("the tenant has no secret[%s]; set it with imhook secret set", name))
		return
	}
	c.output(bufPtr, bufCap, []byte(v))
}

// substituteSecrets replaces each "{{secret:NAME}}" in header values with
// the tenant's secret NAME, so that a plugin sends a credential without
// reading it. A reference to a secret that is not set is an error naming
// the secret, never the header's value.
func (st *tenantState) substituteSecrets(h [][2]string) error {
	for k := range h {
		v := h[k][1]
		if !strings.Contains(v, secretRefOpen) {
			continue
		}
		var b strings.Builder
		for {
			start := strings.Index(v, secretRefOpen)
			if start < 0 {
				break
			}
			end := strings.Index(v[start:], secretRefClose)
			if end < 0 {
				return fmt.Errorf("header %s has an unclosed {{secret:...}} reference", h[k][0])
			}
			name := v[start+len(secretRefOpen) : start+end]
			s, ok := st.secrets[name]
			if !ok {
				return fmt.Errorf("header %s refers to secret[%s], which the tenant has not set (imhook secret set)", h[k][0], name)
			}
			b.WriteString(v[:start])
			b.WriteString(s)
			v = v[start+end+len(secretRefClose):]
		}
		b.WriteString(v)
		h[k][1] = b.String()
	}
	return nil
}

// egressList lists the tenant's allowed destinations for a denial.
func (st *tenantState) egressList() string {
	if len(st.egress) == 0 {
		return "empty: no destination is allowed"
	}
	s := make([]string, len(st.egress))
	for k, p := range st.egress {
		s[k] = p.String()
	}
	sort.Strings(s)
	return "allowed: " + strings.Join(s, ", ")
}

// minRedactBytes is the shortest secret redact replaces: shorter values
// would match ordinary text.
const minRedactBytes = 6

// redact returns b with every tenant secret (of minRedactBytes or more)
// replaced by "[secret:NAME]", for text a guest writes that the host logs
// or returns (log lines, error messages). b itself is returned, not a
// copy, when it holds no secret.
func (st *tenantState) redact(b []byte) []byte {
	for name, v := range st.secrets {
		if len(v) < minRedactBytes || !bytes.Contains(b, []byte(v)) {
			continue
		}
		b = bytes.ReplaceAll(b, []byte(v), []byte("[secret:"+name+"]"))
	}
	return b
}
