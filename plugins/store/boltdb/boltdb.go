// Package boltdb opens the bbolt file of one imhook store, the same way for
// every store: mode 0600, a bounded wait for the file lock, and errors that
// name the store and the file and say what to do. What goes in the file
// (buckets, format check) is the store's own business.
//
// Each store has a file of its own: imhook.db for the registry, and files of
// their own for the plugin state and the callback queue. bbolt allows one
// write transaction at a time per file and fsyncs each, so stores sharing a
// file would queue their writes behind each other's: the queue's and the
// state's frequent small writes behind the registry's uploads of megabytes.
package boltdb

import (
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DefaultTimeout is Options.Timeout when it is zero.
const DefaultTimeout = 2 * time.Second

// Options configures Open. The zero value is the production setting.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file lock. Default DefaultTimeout.
	Timeout time.Duration

	// NoSync skips the fsync after each commit. A crash of the process loses
	// nothing, but a crash of the machine may lose or corrupt recent
	// changes. Only for tests.
	NoSync bool
}

// Open opens the bbolt file at path, creating it (mode 0600) when it does
// not exist. Its directory must exist. what names the store in errors
// ("registry", "state", "queue").
//
// # Errors
//
// Open fails when another process holds the file ("registry file ... is
// locked by another imhook process (waited 2s); stop it or use another
// file"), when the file is not a bbolt file or is damaged ("registry file
// ... is not a registry bbolt file: ..."), and when it cannot be opened or
// created ("open registry file ...: ...").
func Open(path, what string, opts Options) (*bbolt.DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	switch {
	case errors.Is(err, bbolt.ErrTimeout):
		return nil, fmt.Errorf("%s file %s is locked by another imhook process (waited %s); stop it or use another file", what, path, opts.Timeout)
	case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrChecksum), errors.Is(err, bbolt.ErrVersionMismatch):
		return nil, fmt.Errorf("%s file %s is not a %s bbolt file: %w", what, path, what, err)
	case err != nil:
		return nil, fmt.Errorf("open %s file %s: %w", what, path, err)
	}
	return db, nil
}
