package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
)

func TestParsePattern(t *testing.T) {
	good := map[string]string{
		"https://api.example.com":    "https://api.example.com:443",
		"http://api.example.com":     "http://api.example.com:80",
		"HTTP://x":                   "",
		"http://*.corp.example:8080": "http://*.corp.example:8080",
		"https://API.Example.com:*":  "https://api.example.com:*",
		"http://127.0.0.1:9000":      "http://127.0.0.1:9000",
		"https://[::1]:8443":         "https://[::1]:8443",
		"https://[2001:DB8::1]":      "https://[2001:db8::1]:443",
		"http://a-b.c0":              "http://a-b.c0:80",
	}
	for in, want := range good {
		p, err := ParsePattern(in)
		if want == "" {
			if err == nil {
				t.Errorf("%q parsed as %s; want an error", in, p)
			}
			continue
		}
		if err != nil || p.String() != want {
			t.Errorf("%q = %s, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{
		"api.example.com", "ftp://x", "https://x/", "https://x/path", "https://u@x", "https://x?q",
		"https://*", "https://*.", "https://a.*.b", "https://x:0", "https://x:65536", "https://x:",
		"https://-a.b", "https://a_b.c", "https://::1", "https://[::1", "https://[fe80::1%eth0]",
		"https://x y", "https://" + strings.Repeat("a", 64) + ".b",
	} {
		if p, err := ParsePattern(in); err == nil {
			t.Errorf("%q parsed as %s; want an error", in, p)
		} else if !strings.Contains(err.Error(), "want scheme://host[:port]") {
			t.Errorf("%q: error %q does not say what to write", in, err)
		}
	}
}

func TestMatch(t *testing.T) {
	allow, err := ParseAllow("egress_allow", []string{"https://api.example.com", "http://*.corp.example:8080", "http://127.0.0.1:*"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"https://api.example.com/v1?x=1":    true,
		"https://API.example.com:443/":      true,
		"https://api.example.com.:443/":     true,
		"http://api.example.com/":           false, // scheme
		"https://api.example.com:8443/":     false, // port
		"https://evil.api.example.com/":     false, // not a wildcard
		"https://api.example.com.evil.net/": false,
		"http://a.corp.example:8080/":       true,
		"http://a.b.corp.example:8080/":     true,
		"http://corp.example:8080/":         false,
		"http://acorp.example:8080/":        false,
		"http://127.0.0.1:1234/":            true,
		"http://[::ffff:127.0.0.1]:1234/":   true,  // the same address
		"http://localhost:1234/":            false, // a name is not an address
	}
	for u, want := range cases {
		d, err := ParseURL(u)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		if _, got := allow.Match(d); got != want {
			t.Errorf("%s (%s): allowed %v, want %v", u, d, got, want)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	ok := [][2]string{{"Authorization", "Bearer x"}, {"X-Tab", "a\tb"}}
	if _, err := CheckRequest("POST", "https://api.example.com/x", ok); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		method, url string
		h           [][2]string
		want        string
	}{
		{"CONNECT", "https://a.b/", nil, "method"},
		{"TRACE", "https://a.b/", nil, "method"},
		{"get", "https://a.b/", nil, "method"},
		{"GET", "https://user:pw@a.b/", nil, "userinfo"},
		{"GET", "ftp://a.b/", nil, "scheme"},
		{"GET", "/relative", nil, "scheme"},
		{"GET", "https://a.b/\r\nX: y", nil, "control character"},
		{"GET", "https://a.b/", [][2]string{{"X-A", "v\r\nX-Injected: 1"}}, "X-A"},
		{"GET", "https://a.b/", [][2]string{{"X-A\r\nX-B", "v"}}, "token"},
		{"GET", "https://a.b/", [][2]string{{"X-A", "v\x00"}}, "control"},
		{"GET", "https://a.b/", [][2]string{{"Host", "other"}}, "set by the host"},
		{"GET", "https://a.b/", [][2]string{{"transfer-encoding", "chunked"}}, "set by the host"},
		{"GET", "https://a.b/", [][2]string{{"", "v"}}, "empty"},
	}
	for _, c := range bad {
		_, err := CheckRequest(c.method, c.url, c.h)
		var e *Error
		if !errors.As(err, &e) || e.Status != abi.StatusInvalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q %q: %v; want invalid mentioning %q", c.method, c.url, c.h, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "Injected") {
			t.Errorf("the error quotes a header value: %v", err)
		}
	}
}

func TestPolicy(t *testing.T) {
	var p Policy
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254",
		"::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "0.0.0.0", "224.0.0.1", "64:ff9b::a00:1"} {
		err := p.CheckAddr(netip.MustParseAddr(a))
		var e *Error
		if !errors.As(err, &e) || e.Status != abi.StatusDenied || !strings.Contains(err.Error(), "egress.allow_networks") {
			t.Errorf("%s: %v; want denied", a, err)
		}
	}
	for _, a := range []string{"93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"} {
		if err := p.CheckAddr(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	nets, err := ParseNetworks("egress.allow_networks", []string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	p.AllowNetworks = nets
	if err := p.CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("allowed network: %v", err)
	}
	if err := p.CheckAddr(netip.MustParseAddr("::1")); err == nil {
		t.Error("::1 allowed by 127.0.0.0/8")
	}
	if err := p.Control("tcp4", "127.0.0.1:80", nil); err != nil {
		t.Error(err)
	}
	if err := p.Control("tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("Control let 10.0.0.1 through")
	}
	if _, err := ParseNetworks("k", []string{"10.0.0.1"}); err == nil || !strings.Contains(err.Error(), "k[0]") {
		t.Errorf("a bare address: %v", err)
	}
}

// FuzzCheckRequest: no input panics, and a request let through has an
// allowed method and no byte that could split a header or a request line.
func FuzzCheckRequest(f *testing.F) {
	f.Add("GET", "https://api.example.com/x?y=1", "X-A", "v")
	f.Add("POST", "http://[::1]:8080/", "Authorization", "Bearer {{secret:k}}")
	f.Add("CONNECT", "http://u:p@h/", "Host", "x\r\ny")
	f.Fuzz(func(t *testing.T, method, url, name, value string) {
		d, err := CheckRequest(method, url, [][2]string{{name, value}})
		if err != nil {
			return
		}
		if !validMethod(method) || strings.ContainsAny(url+name+value, "\r\n\x00") || d.Port == 0 || d.Host == "" {
			t.Fatalf("let through %q %q %q: %q (%+v)", method, url, name, value, d)
		}
		if p, err := ParsePattern(d.String()); err != nil || !p.Match(d) {
			t.Fatalf("the destination %s does not parse back as a pattern that matches it: %v", d, err)
		}
	})
}
