package main

import (
	"os"
	"path/filepath"

	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// runState opens the state of `imhook run`: the bbolt file path (kept
// across runs: seed it with one run, read it with the next), or, with
// memory, an empty state in a temporary file removed by close. The plugin
// runs as tenant "local" under lim's quotas. Either grants kv.
func runState(path string, memory bool, lim limits.Limits) (kv plugins.KV, close func(), err error) {
	var dir string
	if memory {
		if dir, err = os.MkdirTemp("", "imhook-run-kv-"); err != nil {
			return nil, nil, err
		}
		path = filepath.Join(dir, "state.db")
	}
	b, err := boltstate.Open(path, boltstate.Options{Bolt: boltdb.Options{NoSync: memory}})
	if err != nil {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
		return nil, nil, err
	}
	q := state.Quota{MaxKeys: lim.MaxKVKeys, MaxBytes: lim.MaxKVBytes, MaxKeyBytes: lim.MaxKVKeyBytes, MaxValueBytes: lim.MaxKVValueBytes}
	return state.NewTenant(b, "local", q, nil), func() {
		_ = b.Close()
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}, nil
}
