package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/imhook/imhook/host"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string   // config file contents; empty means no file
		env     []string // environment
		args    []string // flags
		check   func(t *testing.T, c host.Config)
		wantErr string // substring of the error; empty means success
	}{
		{
			name: "defaults",
			check: func(t *testing.T, c host.Config) {
				if c.Server.Addr != ":8080" || c.Admin.Addr != "127.0.0.1:8081" || c.StorePath() != filepath.Join("data", "imhook.db") {
					t.Errorf("defaults: %+v", c)
				}
			},
		},
		{
			name: "file then env then flags",
			yaml: "server:\n  addr: \":9000\"\n  read_timeout: 2s\n  max_concurrent: 10\nadmin:\n  addr: \"127.0.0.1:9001\"\nlog:\n  level: debug\n",
			env:  []string{"IMHOOK_SERVER__ADDR=:9100", "IMHOOK_SERVER__CALL_TIMEOUT=1500ms", "IMHOOK_SANDBOX__LIMITS__MAX_INSTANCES=3", "OTHER=1"},
			args: []string{"--addr", ":9200"},
			check: func(t *testing.T, c host.Config) {
				if c.Server.Addr != ":9200" {
					t.Errorf("server.addr = %q, want the flag's :9200", c.Server.Addr)
				}
				if c.Server.ReadTimeout != 2*time.Second || c.Server.MaxConcurrent != 10 {
					t.Errorf("file values lost: %+v", c.Server)
				}
				if c.Server.CallTimeout != 1500*time.Millisecond || c.Sandbox.Limits.MaxInstances != 3 {
					t.Errorf("env values lost: %+v %+v", c.Server, c.Sandbox.Limits)
				}
				if c.Admin.Addr != "127.0.0.1:9001" || c.Log.Level != "debug" {
					t.Errorf("unset flags overrode the file: %+v %+v", c.Admin, c.Log)
				}
			},
		},
		{
			name: "data dir flag moves store and cache",
			args: []string{"--data-dir", "/var/lib/imhook"},
			check: func(t *testing.T, c host.Config) {
				if c.StorePath() != "/var/lib/imhook/imhook.db" || c.CacheDir() != "/var/lib/imhook/cache" {
					t.Errorf("store %q cache %q", c.StorePath(), c.CacheDir())
				}
			},
		},
		{name: "unknown file key", yaml: "server:\n  adr: \":1\"\n", wantErr: "adr"},
		{name: "unknown env key", env: []string{"IMHOOK_SERVER__ADR=:1"}, wantErr: "adr"},
		{name: "unknown env section", env: []string{"IMHOOK_SERVR__ADDR=:1"}, wantErr: "servr"},
		{
			name: "client variables ignored",
			env:  []string{"IMHOOK_TOKEN=tenant.secret", "IMHOOK_ADMIN_URL=http://x", "IMHOOK_DATA_DIR=/srv/imhook"},
			check: func(t *testing.T, c host.Config) {
				if c.DataDir != "/srv/imhook" {
					t.Errorf("data_dir = %q, want IMHOOK_DATA_DIR's value", c.DataDir)
				}
			},
		},
		{name: "bad duration", env: []string{"IMHOOK_SERVER__READ_TIMEOUT=soon"}, wantErr: "read_timeout"},
		// A bare number would be nanoseconds: refused, with the key and a fix.
		{name: "unitless duration in file", yaml: "server:\n  read_timeout: 5\n", wantErr: `config key[server.read_timeout]: 5 has no unit; write "5s"`},
		{name: "unitless duration in env", env: []string{"IMHOOK_SERVER__READ_TIMEOUT=5"}, wantErr: `config key[server.read_timeout]: 5 has no unit; write "5s"`},
		{name: "unitless fraction", yaml: "sandbox:\n  limits:\n    call_timeout: 0.5\n", wantErr: `config key[sandbox.limits.call_timeout]: 0.5 has no unit; write "0.5s"`},
		{name: "unitless redis duration", env: []string{"IMHOOK_STORE__REDIS__DIAL_TIMEOUT=2"}, wantErr: "config key[store.redis.dial_timeout]"},
		{
			name: "zero duration needs no unit",
			yaml: "sandbox:\n  limits:\n    call_timeout: 0\n",
			env:  []string{"IMHOOK_SANDBOX__LIMITS__INIT_TIMEOUT=0"},
			check: func(t *testing.T, c host.Config) {
				if c.Sandbox.Limits.CallTimeout != 0 || c.Sandbox.Limits.InitTimeout != 0 {
					t.Errorf("limits %+v, want the zero durations kept", c.Sandbox.Limits)
				}
			},
		},
		// An unknown key is named in full, with the closest real one.
		{name: "unknown top-level key", yaml: "servr:\n  addr: \":1\"\n", wantErr: "unknown config key[servr.addr]; did you mean server.addr?"},
		{name: "unknown top-level scalar", yaml: "read_timeout: 5s\n", wantErr: "unknown config key[read_timeout]; did you mean server.read_timeout?"},
		{name: "unknown nested key", env: []string{"IMHOOK_SERVER__READTIMEOUT=5s"}, wantErr: "unknown config key[server.readtimeout] (IMHOOK_SERVER__READTIMEOUT); did you mean server.read_timeout?"},
		{name: "duration of another type", yaml: "server:\n  read_timeout: true\n", wantErr: "config key[server.read_timeout]: true is not a duration"},
		{
			name: "empty sections keep their defaults",
			yaml: "server:\nstore:\n  redis:\n",
			check: func(t *testing.T, c host.Config) {
				if d := host.Default(); !reflect.DeepEqual(c, d) {
					t.Errorf("got %+v, want the defaults", c)
				}
			},
		},
		{name: "a value for a section", yaml: "server: 5\n", wantErr: "config key[server] is a section, not a value: set its keys, such as server.addr"},
		{name: "unknown key far from all", yaml: "zzzzzzzzzzzz: 1\n", wantErr: "unknown config key[zzzzzzzzzzzz] (see docs/config.md for every key)"},
		{name: "invalid value", yaml: "server:\n  max_concurrent: 0\n", wantErr: "config key[server.max_concurrent]"},
		{name: "short token", env: []string{"IMHOOK_ADMIN__TOKEN=abc"}, wantErr: "config key[admin.token]"},
		{name: "bad store", yaml: "store:\n  backend: etcd\n", wantErr: "config key[store.backend]"},
		{name: "bad yaml", yaml: "server: [", wantErr: "config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.yaml != "" {
				path = filepath.Join(t.TempDir(), "imhook.yaml")
				if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			addConfigFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(fs, path, func() []string { return tt.env })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(nil, filepath.Join(t.TempDir(), "nope.yaml"), func() []string { return nil })
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want one naming the file", err)
	}
}

// TestExampleConfig keeps examples/config/imhook.yaml loadable and equal to
// the defaults it claims to show.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, filepath.Join("..", "..", "examples", "config", "imhook.yaml"), func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, host.Default()) {
		t.Errorf("example config differs from host.Default():\n got %+v\nwant %+v", c, host.Default())
	}
}
