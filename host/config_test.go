package host

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr []string // every key the error must name; none means valid
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "admin disabled", edit: func(c *Config) { c.Admin.Addr = "" }},
		{name: "explicit paths without data dir", edit: func(c *Config) {
			c.DataDir, c.Store.Path, c.Sandbox.CacheDir = "", "/srv/imhook.db", "/srv/cache"
		}},
		{name: "no data dir", edit: func(c *Config) { c.DataDir = "" }, wantErr: []string{"data_dir"}},
		{name: "bad addresses", edit: func(c *Config) { c.Server.Addr, c.Admin.Addr = "8080", "nope" },
			wantErr: []string{"server.addr", "admin.addr"}},
		{name: "no webhook address", edit: func(c *Config) { c.Server.Addr = "" }, wantErr: []string{"server.addr"}},
		{name: "timeouts", edit: func(c *Config) {
			c.Server.ReadTimeout, c.Server.ShutdownTimeout = 0, -time.Second
		}, wantErr: []string{"server.read_timeout", "server.shutdown_timeout"}},
		{name: "call timeout over OpenIM's cap", edit: func(c *Config) { c.Server.CallTimeout = 20 * time.Second },
			wantErr: []string{"server.call_timeout"}},
		{name: "plugin timeout over the callback's", edit: func(c *Config) { c.Sandbox.Limits.CallTimeout = 4 * time.Second },
			wantErr: []string{"sandbox.limits.call_timeout"}},
		{name: "sizes and counts", edit: func(c *Config) {
			c.Server.MaxBodyBytes, c.Server.MaxConcurrent, c.Admin.MaxUploadBytes = 10, 0, 10
		}, wantErr: []string{"server.max_body_bytes", "server.max_concurrent", "admin.max_upload_bytes"}},
		{name: "short token", edit: func(c *Config) { c.Admin.Token = "short" }, wantErr: []string{"admin.token"}},
		{name: "short metrics token", edit: func(c *Config) { c.Admin.MetricsToken = "short" }, wantErr: []string{"admin.metrics_token"}},
		{name: "negative limits", edit: func(c *Config) { c.Sandbox.Limits.MaxInstances = -1 }, wantErr: []string{"sandbox.limits"}},
		{name: "memory over 2 GiB", edit: func(c *Config) { c.Sandbox.Limits.MemoryPages = 40000 }, wantErr: []string{"sandbox.limits.memory_pages"}},
		{name: "compile timeout", edit: func(c *Config) { c.Sandbox.CompileTimeout = time.Hour }, wantErr: []string{"sandbox.compile_timeout"}},
		{name: "compile timeout set", edit: func(c *Config) { c.Sandbox.CompileTimeout = time.Minute }},
		{name: "log", edit: func(c *Config) { c.Log.Level, c.Log.Format = "loud", "xml" }, wantErr: []string{"log.level", "log.format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, key := range tt.wantErr {
				if !strings.Contains(err.Error(), "config key["+key) {
					t.Errorf("error %q does not name %s", err, key)
				}
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Admin.Token = "operator-secret-token"
	c.Admin.MetricsToken = "metrics-secret-token"
	if r := c.Redacted(); r.Admin.Token == c.Admin.Token || r.Admin.Token == "" {
		t.Errorf("Redacted kept the token: %q", r.Admin.Token)
	}
	if r := c.Redacted(); r.Admin.MetricsToken == c.Admin.MetricsToken || r.Admin.MetricsToken == "" {
		t.Errorf("Redacted kept the metrics token: %q", r.Admin.MetricsToken)
	}
	if c.Admin.Token != "operator-secret-token" {
		t.Error("Redacted changed the original")
	}
}

// TestLimitsDocumented: docs/config.md has a row for every limit of the
// schema (package limits) with its built-in default, so a new limit cannot
// land undocumented.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range limits.Fields {
		row := "| `sandbox.limits." + f.Key + "` | `0` (" + f.Format(f.Default) + ") |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/config.md lacks the row starting %s", row)
		}
	}
}
