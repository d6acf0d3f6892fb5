package host

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/state/redisstate"
	"github.com/imhook/imhook/plugins/store/redisdb"
)

// StatePath returns the bbolt file of the tenants' key-value state:
// state.db beside the registry's file (docs/config.md, store.path). A file
// of its own, because bbolt has one writer per file (RATIONALE.md).
func (c *Config) StatePath() string {
	return filepath.Join(filepath.Dir(c.StorePath()), "state.db")
}

// openState opens the tenants' state on the store cfg.Store selects: a bbolt
// file beside the registry's, or the same Redis (every replica sees the
// same state). close releases it.
func openState(ctx context.Context, cfg Config) (b state.Backend, close func() error, err error) {
	if cfg.Store.Backend == "redis" {
		c, err := redisdb.Open(ctx, cfg.Store.Redis)
		if err != nil {
			return nil, nil, fmt.Errorf("state: %w", err)
		}
		s := redisstate.New(c, cfg.Store.Redis.WithDefaults().KeyPrefix)
		return s, c.Close, nil
	}
	path := cfg.StatePath()
	s, err := boltstate.Open(path, boltstate.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("state[%s]: %w", path, err)
	}
	return s, s.Close, nil
}
