//go:build !wasip1

package plugin

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
)

func TestHTTPClientNative(t *testing.T) {
	var got *abi.HTTPRequest
	h := &Host{
		Secrets: map[string]string{"tok": "s3cr3t"},
		HTTP: func(r *abi.HTTPRequest) (*abi.HTTPResponse, error) {
			got = r
			if strings.Contains(r.URL, "denied") {
				return nil, &HostError{Status: abi.StatusDenied, Msg: "http: destination not allowed"}
			}
			if strings.Contains(r.URL, "plain") {
				return nil, errors.New("connection refused")
			}
			return &abi.HTTPResponse{Status: 200, Header: [][2]string{{"content-type", "text/plain"}, {"X-A", "1"}, {"X-A", "2"}}, Body: []byte("ok")}, nil
		},
	}
	c := &Context{host: h}
	req := NewRequest("POST", "https://svc.example/x", []byte("b"))
	req.Header.Set("authorization", "Bearer {{secret:tok}}")
	req.Header.Add("x-trace", "1")
	resp, err := c.HTTP().Do(req)
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != "ok" {
		t.Fatalf("%+v %v", resp, err)
	}
	if resp.Header.Get("Content-Type") != "text/plain" || !reflect.DeepEqual(resp.Header.Values("x-a"), []string{"1", "2"}) {
		t.Fatalf("headers %v", resp.Header)
	}
	want := [][2]string{{"authorization", "Bearer s3cr3t"}, {"x-trace", "1"}}
	if got.Method != "POST" || !reflect.DeepEqual(got.Header, want) || string(got.Body) != "b" {
		t.Fatalf("the host got %+v", got)
	}
	_, err = c.HTTP().Get("https://denied.example/")
	if !errors.Is(err, ErrDenied) || errors.Is(err, ErrQuota) || err.Error() != "http: destination not allowed" {
		t.Fatalf("denied: %v", err)
	}
	_, err = c.HTTP().Get("https://plain.example/")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a plain error: %v", err)
	}
	req = NewRequest("GET", "https://svc.example/", nil)
	req.Header.Set("Authorization", "{{secret:nope}}")
	if _, err := c.HTTP().Do(req); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "secret[nope]") {
		t.Fatalf("missing secret: %v", err)
	}
	if v, err := c.Secret("tok"); v != "s3cr3t" || err != nil {
		t.Fatalf("Secret: %q %v", v, err)
	}
	if _, err := c.Secret("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Secret(nope): %v", err)
	}
	if _, err := (&Context{host: &Host{}}).HTTP().Get("https://x/"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("no HTTP: %v", err)
	}
}

func TestHeader(t *testing.T) {
	var h Header
	h.Add("X-A", "1")
	h.Add("content-type", "text/plain")
	h.Add("x-a", "2")
	if h.Get("X-a") != "1" || h.Get("Content-Type") != "text/plain" || h.Get("nope") != "" || !reflect.DeepEqual(h.Values("X-A"), []string{"1", "2"}) {
		t.Fatalf("%v", h)
	}
	h.Set("X-A", "3")
	if !reflect.DeepEqual(h, Header{{"content-type", "text/plain"}, {"X-A", "3"}}) {
		t.Fatalf("Set: %v", h)
	}
	h.Del("CONTENT-TYPE")
	if len(h) != 1 || equalFold("a-", "A_") || !equalFold("X-Y1", "x-y1") || equalFold("[", "{") {
		t.Fatalf("Del or equalFold: %v", h)
	}
}
