package host_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
)

// TestUnmeteredUploadRefused: through the admin API, a module the metering
// rewriter refuses (it already exports imhook_fuel) is refused with 422 and
// a message naming what the rewriter found and the setting, and nothing is
// stored; with sandbox.deadline_fallback the same upload is accepted and
// runs under a deadline.
func TestUnmeteredUploadRefused(t *testing.T) {
	const operator = "operator-token-0123456789"
	wasm, err := os.ReadFile("../plugins/testdata/unmeterable_loop.wasm")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *host.Config) { c.Admin.Token = operator })
	e.tenant("strict", registry.Settings{})
	status, body := e.admin("POST", "/v1/tenants/strict/plugins/p/versions", operator, "application/wasm", wasm)
	if status != 422 || !strings.Contains(string(body), `already exports \"imhook_fuel\"`) || !strings.Contains(string(body), "sandbox.deadline_fallback") {
		t.Fatalf("upload of an unmeterable module: %d %s; want 422 naming the feature and the setting", status, body)
	}
	if status, body := e.admin("GET", "/v1/tenants/strict/plugins", operator, "", nil); status != 200 || strings.Contains(string(body), `"p"`) {
		t.Errorf("plugins after the refused upload: %d %s; want none", status, body)
	}

	e = start(t, func(c *host.Config) { c.Admin.Token = operator; c.Sandbox.DeadlineFallback = true })
	e.tenant("lenient", registry.Settings{})
	status, body = e.admin("POST", "/v1/tenants/lenient/plugins/p/versions", operator, "application/wasm", wasm)
	var up struct {
		CPULimit string `json:"cpu_limit"`
	}
	if status != 201 || json.Unmarshal(body, &up) != nil || up.CPULimit != "deadline" {
		t.Fatalf("upload with sandbox.deadline_fallback: %d %s; want 201 with cpu_limit deadline", status, body)
	}
}
