package tenants

import (
	"context"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

func TestSandboxOptions(t *testing.T) {
	t.Parallel()
	defaults := limits.Limits{MemoryPages: 256, CallTimeout: 50 * time.Millisecond, MaxInstances: 4}
	tests := []struct {
		name     string
		settings registry.Settings
		defaults limits.Limits
		want     plugins.SandboxOptions
	}{
		{
			name:     "server defaults over built-in ones",
			defaults: defaults,
			want:     plugins.SandboxOptions{ID: "t", Limits: defaults.WithDefaults()},
		},
		{
			name: "tenant overrides field by field",
			settings: registry.Settings{Limits: limits.Limits{
				MemoryPages: 128, CallTimeout: time.Second, MaxInputBytes: 2048, MaxOutputBytes: 4096,
				MaxLogBytes: 100, MaxLogLines: 7, MaxInstances: 2, MaxCallsPerInstance: 10, MaxInstructions: 5e6, InitInstructions: 7e6,
			}},
			defaults: defaults,
			want: plugins.SandboxOptions{ID: "t", Limits: limits.Limits{
				MemoryPages: 128, CallTimeout: time.Second, MaxInputBytes: 2048, MaxOutputBytes: 4096,
				MaxLogBytes: 100, MaxLogLines: 7, MaxInstances: 2, MaxCallsPerInstance: 10, MaxInstructions: 5e6, InitInstructions: 7e6,
				InitTimeout: limits.Default().InitTimeout,
				MaxKVKeys:   limits.Default().MaxKVKeys, MaxKVBytes: limits.Default().MaxKVBytes,
				MaxKVKeyBytes: limits.Default().MaxKVKeyBytes, MaxKVValueBytes: limits.Default().MaxKVValueBytes,
				MaxKVOps: limits.Default().MaxKVOps,
			}},
		},
		{
			name:     "nothing set anywhere: the built-in defaults, cpu limit on",
			defaults: limits.Limits{},
			want:     plugins.SandboxOptions{ID: "t", Limits: limits.Default()},
		},
		{
			name: "grants and config",
			settings: registry.Settings{
				Grants: []string{limits.GrantWalltime, limits.GrantRandom},
				Config: map[string]string{"k": "v"},
			},
			defaults: defaults,
			want: plugins.SandboxOptions{ID: "t", Limits: defaults.WithDefaults(),
				Grants: limits.Grants{Walltime: true, Random: true}, Config: map[string]string{"k": "v"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := SandboxOptions(&registry.Tenant{ID: "t", Settings: tt.settings}, tt.defaults)
			if got.ID != tt.want.ID || got.Limits != tt.want.Limits || got.Grants != tt.want.Grants || got.CPULimit != "" || len(got.Config) != len(tt.want.Config) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			for k, v := range tt.want.Config {
				if got.Config[k] != v {
					t.Errorf("config[%s] = %q, want %q", k, got.Config[k], v)
				}
			}
			if tt.settings.Config != nil {
				got.Config["k"] = "changed"
				if tt.settings.Config["k"] != "v" {
					t.Error("the sandbox config shares its map with the stored settings")
				}
			}
		})
	}
}

// TestCloseWithoutStart guards the shutdown of a server that never ran.
func TestCloseWithoutStart(t *testing.T) {
	t.Parallel()
	d, _ := newTestDirectory(t, nil)
	done := make(chan error, 1)
	go func() { done <- d.Close(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close without Start hangs")
	}
}
