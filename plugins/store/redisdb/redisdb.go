// Package redisdb opens the Redis that imhook's shared stores use, the same
// way for every store: one configuration (Config, the store.redis.* keys,
// shaped like OpenIM's config/redis.yml), validated, checked to answer and to
// keep its keys, with errors that name the Redis and the key to fix. What a
// store keeps in Redis (its keys under Config.KeyPrefix, its transactions,
// its notifications) is the store's own business.
//
//	c, err := redisdb.Open(ctx, redisdb.Config{Address: "10.0.0.5:6379"})
//	if err != nil { ... } // "redis at 10.0.0.5:6379 unreachable: ...; check store.redis.address ..."
//
// A server opens its Redis once with OpenShared: the client and the one
// data-loss Guard that every store on that Redis asks before it writes.
package redisdb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open validates cfg and connects to the Redis it names. It returns once
// Redis has answered; the caller closes the client.
//
// # Errors
//
// Open fails when cfg is invalid (each bad key named, as Validate does),
// when Redis does not answer within cfg.DialTimeout ("redis at
// 127.0.0.1:6379 unreachable: ...; check store.redis.address and that Redis
// is running"), when it refuses the credentials (reported the same way), and
// when its maxmemory-policy may evict keys (allkeys-*).
func Open(ctx context.Context, cfg Config) (goredis.UniversalClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	quietOnce.Do(func() { goredis.SetLogger(quiet{}) })
	c := goredis.NewUniversalClient(cfg.options())
	if err := check(ctx, c, cfg); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// check makes sure Redis answers and will not evict imhook's keys.
func check(ctx context.Context, c goredis.UniversalClient, cfg Config) error {
	// The extra second lets the PING finish after a dial that took the
	// whole DialTimeout.
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%s unreachable: %w; check store.redis.address (and mode, username, password) and that Redis is running", cfg.Where(), err)
	}
	// CONFIG is often disabled on managed Redis; then the operator's word
	// (docs/deploy.md) is all we have.
	if pol, err := c.ConfigGet(ctx, "maxmemory-policy").Result(); err == nil {
		if p := pol["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
			return fmt.Errorf("%s has maxmemory-policy %s, which may evict imhook's keys and lose tenants and their plugins; set it to noeviction (or a volatile-* policy)", cfg.Where(), p)
		}
	}
	return nil
}

// quietOnce silences go-redis's process-wide logger. Every failure it would
// print (a refused dial at each poll while Redis is down) reaches the
// caller as an error, and the stores report it (the registry's Health);
// printing it too would flood stderr.
var quietOnce sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// Shared is imhook's Redis as every store on it uses it: one client and
// one data-loss Guard, so that the registry, the plugin state and the queue
// of a replica agree on whether Redis can be written to.
type Shared struct {
	// Client is the connection pool every store uses.
	Client goredis.UniversalClient
	// Guard is the one data-loss guard of this Redis.
	Guard *Guard
	// Config is the configuration it was opened with, defaults applied.
	Config Config
}

// OpenShared opens Redis as Open does, then checks it for lost data once
// and starts the Guard's poll. A store found to have lost data is not an
// error: the Guard is then in the lost-data state (Guard.Status), so the
// replica can report it and an operator can accept it through its admin
// API. Close stops the guard and closes the client.
func OpenShared(ctx context.Context, cfg Config, opt GuardOptions) (*Shared, error) {
	c, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	g, err := newGuard(ctx, c, cfg, opt)
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &Shared{Client: c, Guard: g, Config: cfg}, nil
}

// Close stops the guard, records the newest revision seen and closes the
// client. The stores on it must be closed first.
func (s *Shared) Close() error {
	s.Guard.close()
	return s.Client.Close()
}
