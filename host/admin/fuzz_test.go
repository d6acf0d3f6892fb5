package admin

import (
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// FuzzMatch feeds arbitrary methods and paths to the router: it must never
// panic, and a matched route must have every parameter it captures set.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{
		"/v1/tenants", "/v1/tenants/a/plugins/p/versions/0123456789ab/test",
		"/v1/tenants//plugins", "/v1/tenants/a/plugins/p/versions/", "//", "/v1/whoami/",
	} {
		f.Add("GET", s)
		f.Add("POST", s)
	}
	a := &API{}
	a.routes = a.table()
	f.Fuzz(func(t *testing.T, method, path string) {
		var req request
		rt, err := a.match(method, path, &req)
		if err != nil {
			return
		}
		for _, seg := range rt.pattern {
			var got string
			switch seg {
			case "{tenant}":
				got = req.tenant
			case "{plugin}":
				got = req.plugin
			case "{hash}":
				got = req.hash
			default:
				continue
			}
			if got == "" || strings.Contains(got, "/") {
				t.Fatalf("%s %s matched %v with parameter %s = %q", method, path, rt.pattern, seg, got)
			}
		}
	})
}

// FuzzMergePatch checks that a merge patch of settings never panics and that
// whatever it accepts is a settings document the API can encode again.
func FuzzMergePatch(f *testing.F) {
	f.Add(`{"config":{"a":"b"}}`)
	f.Add(`{"config":null,"limits":{"memory_pages":64}}`)
	f.Add(`{"failure":{"closed":true},"grants":["random"]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, patch string) {
		s, err := patchSettings(registry.Settings{}, []byte(patch))
		if err != nil {
			return
		}
		if _, err := patchSettings(s, []byte(`{}`)); err != nil {
			t.Fatalf("accepted patch %s gives settings that do not round-trip: %v", patch, err)
		}
	})
}
