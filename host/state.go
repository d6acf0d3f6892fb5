package host

import (
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
// file beside the registry's, or db, the Redis every store shares (every
// replica sees the same state, and its data-loss guard refuses writes after
// Redis lost data). close releases it.
func openState(cfg Config, db *redisdb.Shared) (b state.Backend, close func() error, err error) {
	if db != nil {
		s := redisstate.NewShared(db)
		return s, s.Close, nil
	}
	path := cfg.StatePath()
	s, err := boltstate.Open(path, boltstate.Options{})
	if err != nil {
		return nil, nil, fmt.Errorf("state[%s]: %w", path, err)
	}
	return s, s.Close, nil
}
