package redisdb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Modes of Config.Mode.
const (
	ModeStandalone = "standalone" // one Redis server (or a proxy in front of several)
	ModeSentinel   = "sentinel"   // Address lists sentinels; MasterName names the master
	ModeCluster    = "cluster"    // Address lists seed nodes of a Redis Cluster
)

// Defaults of the Config fields left zero.
const (
	DefaultKeyPrefix    = "imhook"
	DefaultPollInterval = 250 * time.Millisecond
	DefaultDialTimeout  = 2 * time.Second
)

// Config says which Redis imhook's shared stores use; every store opens it
// with Open. It is shaped like OpenIM's own config/redis.yml (an address
// list, username, password, db, and a mode for sentinel or cluster), so an
// operator can copy those values. The koanf tags are imhook's configuration
// keys under store.redis.
type Config struct {
	// Address is host:port, or several separated by commas: the server
	// (standalone), the sentinels (sentinel) or cluster seed nodes (cluster).
	// OpenIM's redis.yml lists the same addresses as a YAML list; join them
	// with commas here. (A string keeps Config comparable and settable from
	// one environment variable.) Default "127.0.0.1:6379".
	Address string `koanf:"address"`

	// Mode is "standalone", "sentinel" or "cluster". Default "standalone".
	Mode string `koanf:"mode"`

	// MasterName is the sentinel master's name. Required in sentinel mode.
	MasterName string `koanf:"master_name"`

	// Username and Password authenticate to Redis (ACL user, or only a
	// password with requirepass). Never logged.
	Username string `koanf:"username"`
	Password string `koanf:"password"`

	// SentinelPassword authenticates to the sentinels, when they require
	// it (sentinel mode only). Never logged.
	SentinelPassword string `koanf:"sentinel_password"`

	// DB is the database number (standalone and sentinel; a cluster has only
	// 0). Default 0. Use a DB or KeyPrefix of its own when sharing OpenIM's
	// Redis.
	DB int `koanf:"db"`

	// KeyPrefix starts every key and channel of every store, so several
	// imhook installations can share one Redis. Letters, digits and "_.:-".
	// Default "imhook".
	KeyPrefix string `koanf:"key_prefix"`

	// PollInterval is how often a store that follows other replicas'
	// changes polls for them, in case a change notification was lost (the
	// registry reads its revision counter). A replica sees every change
	// within about this interval plus its load time. Default 250ms.
	PollInterval time.Duration `koanf:"poll_interval"`

	// DialTimeout bounds connecting to Redis; commands are bounded by their
	// callers' contexts. Default 2s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// DefaultAddress is Config.Address when it is empty.
const DefaultAddress = "127.0.0.1:6379"

// addresses splits Address on commas, dropping blanks.
func (c Config) addresses() []string {
	var out []string
	for _, a := range strings.Split(c.Address, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if len(c.addresses()) == 0 {
		c.Address = DefaultAddress
	}
	if c.Mode == "" {
		c.Mode = ModeStandalone
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	return c
}

// Validate reports every invalid field at once, each named by its key under
// store.redis. Zero fields are valid: they take their defaults.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config key[store.redis.%s]: "+format, append([]any{key}, args...)...))
	}
	addrs := c.addresses()
	for _, a := range addrs {
		if i := strings.LastIndexByte(a, ':'); i <= 0 || i == len(a)-1 {
			bad("address", "%q is not host:port", a)
		}
	}
	switch c.Mode {
	case ModeStandalone:
		if len(addrs) > 1 {
			bad("address", "standalone mode takes one address, got %d (set mode to cluster or sentinel)", len(addrs))
		}
	case ModeSentinel:
		if c.MasterName == "" {
			bad("master_name", "must be set in sentinel mode")
		}
	case ModeCluster:
		if c.DB != 0 {
			bad("db", "a Redis Cluster has only db 0, got %d", c.DB)
		}
	default:
		bad("mode", "%q is not one of standalone, sentinel, cluster", c.Mode)
	}
	if c.DB < 0 {
		bad("db", "must not be negative, got %d", c.DB)
	}
	if !prefixRE.MatchString(c.KeyPrefix) {
		bad("key_prefix", "%q must be 1-64 letters, digits or _.:- (no braces: they are hash tags)", c.KeyPrefix)
	}
	if c.PollInterval < 10*time.Millisecond || c.PollInterval > time.Minute {
		bad("poll_interval", "must be between 10ms and 1m, got %s", c.PollInterval)
	}
	if c.DialTimeout < 0 {
		bad("dial_timeout", "must not be negative, got %s", c.DialTimeout)
	}
	return errors.Join(errs...)
}

// Redacted returns a copy safe to print: the password is replaced.
func (c Config) Redacted() Config {
	if c.Password != "" {
		c.Password = "REDACTED"
	}
	if c.SentinelPassword != "" {
		c.SentinelPassword = "REDACTED"
	}
	return c
}

// Where names the Redis in messages: "redis at 10.0.0.5:6379", "redis
// master mymaster via sentinels ...", "redis cluster at ...".
func (c Config) Where() string {
	c = c.WithDefaults()
	addrs := strings.Join(c.addresses(), ",")
	switch c.Mode {
	case ModeSentinel:
		return fmt.Sprintf("redis master %s via sentinels %s", c.MasterName, addrs)
	case ModeCluster:
		return "redis cluster at " + addrs
	}
	return "redis at " + addrs
}

// options translates c (with defaults applied) into go-redis options.
func (c Config) options() *goredis.UniversalOptions {
	o := &goredis.UniversalOptions{
		Addrs:           c.addresses(),
		Username:        c.Username,
		Password:        c.Password,
		DB:              c.DB,
		DialTimeout:     c.DialTimeout,
		DialerRetries:   1,
		MaxRetries:      2,
		IsClusterMode:   c.Mode == ModeCluster,
		ClientName:      "imhook",
		DisableIdentity: true,
		// Callers bound every command with a context; a dead server must not
		// hold an admin request or a poll longer than that.
		ContextTimeoutEnabled: true,
		// Not every Redis speaks the maintenance-notification extension.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if c.Mode == ModeSentinel {
		o.MasterName = c.MasterName
		o.SentinelPassword = c.SentinelPassword
	}
	return o
}
