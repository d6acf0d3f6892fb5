package host

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/egress"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/store/redisdb"
)

// Config is the whole configuration of `imhook serve`. cmd/imhook fills it from
// defaults, a YAML file, IMHOOK_* environment variables and flags, in that order,
// then calls Validate. The koanf tags are the configuration keys; the field
// comments are the user documentation (docs/config.md repeats them).
//
// The zero value is not usable: start from Default.
type Config struct {
	// DataDir is the directory that holds the embedded store and the compile
	// cache when store.path and sandbox.cache_dir are left empty, and with a
	// Redis store the newest registry revision this replica saw
	// (SeenPath). Default "./data".
	DataDir string `koanf:"data_dir"`

	// Server is the webhook listener OpenIM calls.
	Server ServerConfig `koanf:"server"`
	// Admin is the admin API's listener.
	Admin AdminConfig `koanf:"admin"`
	// Store is where tenants and plugins are kept.
	Store StoreConfig `koanf:"store"`
	// Sandbox configures the WebAssembly runtime and default limits.
	Sandbox SandboxConfig `koanf:"sandbox"`
	// Queue is the after-callback queue (queue.go).
	Queue QueueConfig `koanf:"queue"`
	// Log configures the process log.
	Log LogConfig `koanf:"log"`
	// Egress is the operator's policy for plugins' HTTP out-calls.
	Egress EgressConfig `koanf:"egress"`
}

// EgressConfig is the operator's policy for tenants' out-calls (grant
// "http"), which comes before any tenant's egress_allow.
type EgressConfig struct {
	// AllowNetworks lists CIDR prefixes out-calls may connect to although
	// they are special-purpose: loopback, link-local (cloud metadata),
	// private (RFC 1918, ULA), CGNAT and the like are refused by default,
	// on the address connected to. Allow only networks of tenants'
	// services, never the metadata address. Default none.
	AllowNetworks []string `koanf:"allow_networks"`
}

// ServerConfig is the webhook listener, the one OpenIM talks to.
type ServerConfig struct {
	// Addr is the webhook listen address. Default ":8080".
	Addr string `koanf:"addr"`

	// ReadTimeout bounds reading one request, headers and body. Default 5s.
	ReadTimeout time.Duration `koanf:"read_timeout"`

	// WriteTimeout bounds writing one reply. Default 5s.
	WriteTimeout time.Duration `koanf:"write_timeout"`

	// IdleTimeout closes keep-alive connections idle for this long. Default 60s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`

	// MaxBodyBytes is the largest callback body accepted; larger ones get 413.
	// Default 1048576 (1 MiB); OpenIM callbacks are a few KiB.
	MaxBodyBytes int `koanf:"max_body_bytes"`

	// MaxConcurrent bounds the callbacks being processed at once across all
	// tenants. Past it a callback is answered at once with the tenant's failure
	// policy reply instead of waiting. Default 256.
	MaxConcurrent int `koanf:"max_concurrent"`

	// CallTimeout bounds the whole plugin chain of one callback. Keep it below
	// the timeout in OpenIM's webhooks.yml (OpenIM never waits more than 15s):
	// past it the callback gets the failure policy reply. Default 3s.
	CallTimeout time.Duration `koanf:"call_timeout"`

	// ShutdownTimeout bounds the graceful shutdown: in-flight callbacks get this
	// long to finish after SIGTERM. Default 15s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
}

// AdminConfig is the admin listener: the tenant and plugin API, /metrics, and
// detailed /readyz.
type AdminConfig struct {
	// Addr is the admin listen address. Keep it on loopback or a private
	// network. Empty disables the admin listener. Default "127.0.0.1:8081".
	Addr string `koanf:"addr"`

	// Token is the operator bearer token for tenant management. Empty disables
	// the operator endpoints (tenant tokens still work). Never logged.
	Token string `koanf:"token"`

	// MetricsToken, when set, is the bearer token GET /metrics requires (the
	// operator token works too): metrics name every tenant, and Prometheus
	// may reach the admin port over a network. Empty serves /metrics to
	// whoever reaches the listener. Never logged.
	MetricsToken string `koanf:"metrics_token"`

	// MaxUploadBytes is the largest plugin upload. Default 33554432 (32 MiB).
	MaxUploadBytes int `koanf:"max_upload_bytes"`

	// Pprof serves Go's runtime profiles at /debug/pprof/ on the admin
	// listener, to the operator token only (pprof.go). Off by default: a
	// CPU profile or a trace costs the server while it runs.
	Pprof bool `koanf:"pprof"`
}

// StoreConfig selects where tenants, settings and plugins are kept.
type StoreConfig struct {
	// Backend is the store kind: "bolt" (an embedded bbolt file, one
	// process) or "redis" (shared by several replicas; see docs/deploy.md).
	// Default "bolt".
	Backend string `koanf:"backend"`

	// Path is the bbolt file. Default "<data_dir>/imhook.db".
	Path string `koanf:"path"`

	// Redis is the Redis of the shared stores, shaped like OpenIM's
	// config/redis.yml. Used when Backend is "redis".
	Redis redisdb.Config `koanf:"redis"`
}

// SandboxConfig configures the WebAssembly sandbox shared by all tenants.
type SandboxConfig struct {
	// CacheDir keeps compiled plugins across restarts. It must be private to
	// imhook (it is trusted on load). Default "<data_dir>/cache".
	CacheDir string `koanf:"cache_dir"`

	// MaxInstances bounds the live plugin instances of the whole process (a
	// Go guest's instance keeps 1.5-7 MiB resident, at most memory_pages);
	// idle instances of other plugins are evicted to stay under it. 0 means
	// the sandbox default, 64.
	MaxInstances int `koanf:"max_instances"`

	// IdleTimeout closes a plugin instance unused this long, giving its
	// memory back; the plugin's next call creates one (a cold start within
	// the call's deadline). 0 means 5m; negative never closes them.
	IdleTimeout time.Duration `koanf:"idle_timeout"`

	// CPUSlots is how many plugin calls may run at once, shared fairly
	// between tenants: a freed slot goes to the waiting tenant that burned
	// the least guest time lately. 0 means GOMAXPROCS (the cores).
	CPUSlots int `koanf:"cpu_slots"`

	// MaxCPUWait bounds how long a call waits for a CPU slot; past it the
	// callback gets its failure policy at once (kind busy). Default 100ms.
	MaxCPUWait time.Duration `koanf:"max_cpu_wait"`

	// CompileTimeout bounds compiling one uploaded module; a module that
	// takes longer is refused. Default 20s (plugins.DefaultCompileTimeout).
	CompileTimeout time.Duration `koanf:"compile_timeout"`

	// NoPreInit makes every plugin instance run its module's _initialize.
	// By default a plugin's first instance runs it and the others start
	// from the state it left, when that is safe (docs/sandbox.md,
	// "Pre-initialised instances"): a Go instance then starts 1.5-2x
	// faster.
	NoPreInit bool `koanf:"no_preinit"`

	// MemoryPoolBytes bounds the memory of closed plugin instances kept,
	// cleared, for new ones: their pages stay resident, so a new instance
	// does not fault them in one at a time (docs/sandbox.md, "Reused
	// memory"). 0 means 64 MiB; negative keeps none.
	MemoryPoolBytes int64 `koanf:"memory_pool_bytes"`

	// DeadlineFallback runs an upload the metering rewriter cannot handle
	// under a wall-clock deadline instead of refusing it (docs/sandbox.md,
	// "The CPU limit"). Off by default: such a guest holds its core, and
	// stalls the server's garbage collector, until its deadline.
	DeadlineFallback bool `koanf:"deadline_fallback"`

	// Limits are the defaults for every tenant; a tenant's own settings
	// override them field by field. Zero fields take the built-in defaults;
	// keys, defaults and bounds are package limits' Fields (docs/config.md).
	Limits limits.Limits `koanf:"limits"`
}

// LogConfig configures the process log (log/slog to stderr).
type LogConfig struct {
	// Level is one of debug, info, warn, error. Default "info".
	Level string `koanf:"level"`

	// Format is "text" or "json". Default "text".
	Format string `koanf:"format"`
}

// Default returns the configuration imhook runs with when nothing is set:
// webhooks on :8080, the admin API on 127.0.0.1:8081, the bbolt store and the
// compile cache under ./data.
func Default() Config {
	return Config{
		DataDir: "./data",
		Server: ServerConfig{
			Addr:            ":8080",
			ReadTimeout:     5 * time.Second,
			WriteTimeout:    5 * time.Second,
			IdleTimeout:     60 * time.Second,
			MaxBodyBytes:    1 << 20,
			MaxConcurrent:   256,
			CallTimeout:     3 * time.Second,
			ShutdownTimeout: 15 * time.Second,
		},
		Admin: AdminConfig{
			Addr:           "127.0.0.1:8081",
			MaxUploadBytes: 32 << 20,
		},
		Store: StoreConfig{Backend: "bolt", Redis: redisdb.Config{
			Address:      redisdb.DefaultAddress,
			Mode:         redisdb.ModeStandalone,
			KeyPrefix:    redisdb.DefaultKeyPrefix,
			PollInterval: redisdb.DefaultPollInterval,
			DialTimeout:  redisdb.DefaultDialTimeout,
		}},
		Log:   LogConfig{Level: "info", Format: "text"},
		Queue: DefaultQueue(),
	}
}

// SeenPath returns the file where a replica sharing a Redis store keeps the
// newest registry revision it saw (one per key prefix), so that a restart
// against a Redis that lost data notices.
func (c Config) SeenPath() string {
	return filepath.Join(c.DataDir, "registry-seen-"+c.Store.Redis.WithDefaults().KeyPrefix+".json")
}

// StorePath returns the bbolt file: Store.Path, or imhook.db under DataDir.
func (c *Config) StorePath() string {
	if c.Store.Path != "" {
		return c.Store.Path
	}
	return filepath.Join(c.DataDir, "imhook.db")
}

// CacheDir returns the compile cache directory: Sandbox.CacheDir, or cache
// under DataDir.
func (c *Config) CacheDir() string {
	if c.Sandbox.CacheDir != "" {
		return c.Sandbox.CacheDir
	}
	return filepath.Join(c.DataDir, "cache")
}

// Redacted returns a copy safe to print or log: secrets are replaced.
func (c Config) Redacted() Config {
	if c.Admin.Token != "" {
		c.Admin.Token = "REDACTED"
	}
	if c.Admin.MetricsToken != "" {
		c.Admin.MetricsToken = "REDACTED"
	}
	c.Store.Redis = c.Store.Redis.Redacted()
	return c
}

// Validate reports every invalid field at once, each named by its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key[%s]: "+format, append([]any{key}, args...)...))
	}
	checkAddr := func(key, addr string, required bool) {
		if addr == "" {
			if required {
				bad(key, "must be set, for example \":8080\"")
			}
			return
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(key, "%q is not host:port: %v", addr, err)
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration such as \"5s\", got %s", d)
		}
	}
	if c.DataDir == "" && (c.Store.Path == "" || c.Sandbox.CacheDir == "") {
		bad("data_dir", "must be set unless store.path and sandbox.cache_dir are")
	}
	checkAddr("server.addr", c.Server.Addr, true)
	positive("server.read_timeout", c.Server.ReadTimeout)
	positive("server.write_timeout", c.Server.WriteTimeout)
	positive("server.idle_timeout", c.Server.IdleTimeout)
	positive("server.call_timeout", c.Server.CallTimeout)
	positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	if c.Server.CallTimeout > 15*time.Second {
		bad("server.call_timeout", "%s is longer than OpenIM ever waits (15s)", c.Server.CallTimeout)
	}
	if c.Server.MaxBodyBytes < 1024 {
		bad("server.max_body_bytes", "must be at least 1024, got %d", c.Server.MaxBodyBytes)
	}
	if c.Server.MaxConcurrent < 1 {
		bad("server.max_concurrent", "must be at least 1, got %d", c.Server.MaxConcurrent)
	}
	checkAddr("admin.addr", c.Admin.Addr, false)
	if c.Admin.MaxUploadBytes < 1024 {
		bad("admin.max_upload_bytes", "must be at least 1024, got %d", c.Admin.MaxUploadBytes)
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		bad("admin.token", "must be at least 16 characters (got %d)", len(c.Admin.Token))
	}
	if c.Admin.MetricsToken != "" && len(c.Admin.MetricsToken) < 16 {
		bad("admin.metrics_token", "must be at least 16 characters (got %d)", len(c.Admin.MetricsToken))
	}
	switch c.Store.Backend {
	case "bolt":
	case "redis":
		if err := c.Store.Redis.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		bad("store.backend", "%q is not supported (want \"bolt\" or \"redis\")", c.Store.Backend)
	}
	if c.Sandbox.MaxInstances < 0 {
		bad("sandbox.max_instances", "must not be negative, got %d", c.Sandbox.MaxInstances)
	}
	if c.Sandbox.CPUSlots < 0 {
		bad("sandbox.cpu_slots", "must not be negative, got %d (0 means one per core)", c.Sandbox.CPUSlots)
	}
	if c.Sandbox.MaxCPUWait < 0 || c.Sandbox.MaxCPUWait > c.Server.CallTimeout {
		bad("sandbox.max_cpu_wait", "must be between 0 (the default, 100ms) and server.call_timeout %s, got %s", c.Server.CallTimeout, c.Sandbox.MaxCPUWait)
	}
	if c.Sandbox.CompileTimeout < 0 || c.Sandbox.CompileTimeout > 10*time.Minute {
		bad("sandbox.compile_timeout", "must be between 0 (the default, %s) and 10m, got %s", plugins.DefaultCompileTimeout, c.Sandbox.CompileTimeout)
	}
	for _, e := range c.Sandbox.Limits.Check() {
		bad("sandbox.limits."+e.Field.Key, "%s is out of range: %s", e.Field.Format(e.Value), e.Want())
	}
	if l := c.Sandbox.Limits; l.CallTimeout > c.Server.CallTimeout && c.Server.CallTimeout > 0 {
		bad("sandbox.limits.call_timeout", "%s exceeds server.call_timeout %s", l.CallTimeout, c.Server.CallTimeout)
	}
	if _, err := egress.ParseNetworks("egress.allow_networks", c.Egress.AllowNetworks); err != nil {
		errs = append(errs, fmt.Errorf("config key[%w]", err))
	}
	c.validateQueue(bad)
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	return errors.Join(errs...)
}
