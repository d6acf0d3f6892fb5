package webhook

import (
	"bytes"
	"testing"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path      string
		tenant, command string
		ok              bool
	}{
		{name: "path form", path: "/hooks/acme/callbackBeforeSendSingleMsgCommand", tenant: "acme", command: "callbackBeforeSendSingleMsgCommand", ok: true},
		{name: "trailing slash", path: "/hooks/acme/callbackBeforeSendSingleMsgCommand/", tenant: "acme", command: "callbackBeforeSendSingleMsgCommand", ok: true},
		{name: "query form", path: "/hooks/acme", tenant: "acme", ok: true},
		{name: "query form slash", path: "/hooks/acme/", tenant: "acme", ok: true},
		{name: "no tenant", path: "/hooks/", ok: false},
		{name: "no tenant double slash", path: "/hooks//x", ok: false},
		{name: "other prefix", path: "/hook/acme/x", ok: false},
		{name: "root", path: "/", ok: false},
		{name: "too deep", path: "/hooks/acme/a/b", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tenant, command, ok := route([]byte(tt.path))
			if ok != tt.ok || string(tenant) != tt.tenant || string(command) != tt.command {
				t.Errorf("route(%q) = %q, %q, %v; want %q, %q, %v",
					tt.path, tenant, command, ok, tt.tenant, tt.command, tt.ok)
			}
		})
	}
}

// FuzzRoute checks route's invariants on arbitrary paths: it never panics, a
// match has a tenant, and neither part holds a slash.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/hooks/acme/callbackX", "/hooks/acme", "/hooks//", "/hooks/a/b/c", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tenant, command, ok := route([]byte(path))
		if !ok {
			return
		}
		if len(tenant) == 0 || bytes.IndexByte(tenant, '/') >= 0 || bytes.IndexByte(command, '/') >= 0 {
			t.Errorf("route(%q) = %q, %q", path, tenant, command)
		}
	})
}
