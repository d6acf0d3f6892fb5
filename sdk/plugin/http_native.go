//go:build !wasip1

package plugin

import (
	"errors"
	"strings"

	"github.com/imhook/imhook/sdk/abi"
)

func (h *Host) roundTrip(r *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	if h.HTTP == nil {
		return nil, &HostError{Status: abi.StatusUnavailable, Msg: "http: no out-calls natively unless the test allows them (sdktest: Harness.AllowHTTP)"}
	}
	// The request crosses an encoding as it would into imhook, so that
	// native tests see what the host would.
	enc, err := abi.ParseHTTPRequest(abi.AppendHTTPRequest(nil, r))
	if err != nil {
		return nil, &HostError{Status: abi.StatusInvalid, Msg: "http: " + err.Error()}
	}
	for k, kv := range enc.Header {
		v, err := h.substitute(kv[0], kv[1])
		if err != nil {
			return nil, err
		}
		enc.Header[k][1] = v
	}
	resp, err := h.HTTP(&enc)
	if err != nil {
		var he *HostError
		if !errors.As(err, &he) {
			err = &HostError{Status: abi.StatusUnavailable, Msg: "http: " + err.Error()}
		}
		return nil, err
	}
	return resp, nil
}

// substitute replaces "{{secret:NAME}}" in a header value as imhook does.
func (h *Host) substitute(name, v string) (string, error) {
	var b strings.Builder
	for {
		start := strings.Index(v, "{{secret:")
		if start < 0 {
			break
		}
		end := strings.Index(v[start:], "}}")
		if end < 0 {
			return "", &HostError{Status: abi.StatusInvalid, Msg: "http: header " + name + " has an unclosed {{secret:...}} reference"}
		}
		key := v[start+len("{{secret:") : start+end]
		s, ok := h.Secrets[key]
		if !ok {
			return "", &HostError{Status: abi.StatusInvalid, Msg: "http: header " + name + " refers to secret[" + key + "], which the tenant has not set (imhook secret set)"}
		}
		b.WriteString(v[:start])
		b.WriteString(s)
		v = v[start+end+2:]
	}
	if b.Len() == 0 {
		return v, nil
	}
	b.WriteString(v)
	return b.String(), nil
}

func (h *Host) secret(name string) (string, error) {
	v, ok := h.Secrets[name]
	if !ok {
		return "", &HostError{Status: abi.StatusNotFound, Msg: "secret: the tenant has no secret[" + name + "]; set it with imhook secret set"}
	}
	return v, nil
}
