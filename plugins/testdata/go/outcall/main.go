// Command outcall is an SDK guest for the sandbox's out-call tests. For
// callbackBeforeSendSingleMsgCommand it reads a script from the request's
// content (JSON: the request to make, how many times, a secret to read) and
// answers a stop reply whose errMsg is the JSON of what happened.
package main

import (
	"encoding/json"
	"errors"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func main() {}

func init() { plugin.OnBeforeSendSingleMsg(run) }

type script struct {
	Method string              `json:"method"`
	URL    string              `json:"url"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
	Times  int                 `json:"times"`  // out-calls to make, 1 when 0
	Secret string              `json:"secret"` // read this secret instead
	Log    string              `json:"log"`    // log this line first
	Panic  bool                `json:"panic"`  // panic with the secret read
}

type result struct {
	Status   int                 `json:"status,omitempty"`
	Header   map[string][]string `json:"header,omitempty"`
	Body     string              `json:"body,omitempty"`
	BodyLen  int                 `json:"body_len,omitempty"`
	Err      string              `json:"err,omitempty"`
	Denied   bool                `json:"denied,omitempty"`
	Quota    bool                `json:"quota,omitempty"`
	Invalid  bool                `json:"invalid,omitempty"`
	Timeout  bool                `json:"timeout,omitempty"`
	Unavail  bool                `json:"unavailable,omitempty"`
	NotFound bool                `json:"not_found,omitempty"`
	Calls    int                 `json:"calls"` // out-calls that got a response
	Secret   string              `json:"secret,omitempty"`
}

func run(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
	var s script
	if err := json.Unmarshal([]byte(req.Content), &s); err != nil {
		return nil, err
	}
	if s.Log != "" {
		c.Info(s.Log)
	}
	var r result
	if s.Secret != "" {
		v, err := c.Secret(s.Secret)
		if s.Panic {
			panic("the secret is " + v)
		}
		r.Secret = v
		r.note(err)
		return reply(r)
	}
	for range max(s.Times, 1) {
		var h plugin.Header
		for name, vs := range s.Header {
			for _, v := range vs {
				h.Add(name, v)
			}
		}
		resp, err := c.HTTP().Do(&plugin.Request{Method: s.Method, URL: s.URL, Header: h, Body: []byte(s.Body)})
		if err != nil {
			r.note(err)
			break
		}
		r.Calls++
		r.Status, r.BodyLen = resp.StatusCode, len(resp.Body)
		r.Header = map[string][]string{}
		for _, f := range resp.Header {
			r.Header[f[0]] = append(r.Header[f[0]], f[1])
		}
		if len(resp.Body) <= 4096 {
			r.Body = string(resp.Body)
		}
	}
	return reply(r)
}

func (r *result) note(err error) {
	if err == nil {
		return
	}
	r.Err = err.Error()
	r.Denied = errors.Is(err, plugin.ErrDenied)
	r.Quota = errors.Is(err, plugin.ErrQuota)
	r.Invalid = errors.Is(err, plugin.ErrInvalid)
	r.Timeout = errors.Is(err, plugin.ErrTimeout)
	r.Unavail = errors.Is(err, plugin.ErrUnavailable)
	r.NotFound = errors.Is(err, plugin.ErrNotFound)
}

func reply(r result) (*openim.BeforeSendSingleMsgResp, error) {
	b, _ := json.Marshal(r)
	return plugin.Stop[openim.BeforeSendSingleMsgResp](1, string(b)), nil
}
