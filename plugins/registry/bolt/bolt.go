// Package bolt is the embedded registry backend: one bbolt file holding the
// tenant documents, the plugin blobs and the revision counter, opened by
// package boltdb like every store's file. Only one process can open the file
// at a time; a second one waits boltdb.Options.Timeout for the lock and then
// fails with a clear error.
//
// Every Backend call is a single bbolt transaction, and bbolt fsyncs each
// write transaction before it returns (unless boltdb.Options.NoSync), so a
// process killed at any moment reopens the file at its last committed state.
// The bucket layout is described in docs/registry.md.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/internal/feed"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// Format is the store-format version this package reads and writes. Open
// refuses files written in another format.
const Format = "1"

// Bucket and key names; see docs/registry.md.
var (
	bucketMeta    = []byte("meta")    // keyFormat, keyRevision
	bucketTenants = []byte("tenants") // tenant ID -> JSON document
	bucketBlobs   = []byte("blobs")   // tenant ID -> bucket: sha256 hex -> written-at (8 bytes) + .wasm
	keyFormat     = []byte("format")
	keyRevision   = []byte("revision") // uint64, big endian
)

// Backend is a registry.Backend on a bbolt file. It is safe for concurrent
// use.
type Backend struct {
	db   *bbolt.DB
	path string
	feed feed.Feed
}

var _ registry.Backend = (*Backend)(nil)

// Open opens the registry file at path, creating it (mode 0600) when it
// does not exist. Its directory must exist.
//
// # Errors
//
// Open fails as boltdb.Open does ("registry file ... is locked by another
// imhook process"), when the file holds something other than a registry,
// or when it was written in a format other than Format.
func Open(path string, opts boltdb.Options) (*Backend, error) {
	db, err := boltdb.Open(path, "registry", opts)
	if err != nil {
		return nil, err
	}
	if err := db.Update(initialize); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("registry file %s: %w", path, err)
	}
	return &Backend{db: db, path: path}, nil
}

// initialize creates the buckets of a new file and checks the format of an
// existing one.
func initialize(tx *bbolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if f := meta.Get(keyFormat); string(f) != Format {
			return fmt.Errorf("store format is %q, this imhook reads format %q", f, Format)
		}
		if tx.Bucket(bucketTenants) == nil || tx.Bucket(bucketBlobs) == nil {
			return errors.New("store is missing its tenants or blobs bucket")
		}
		return nil
	}
	if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		return fmt.Errorf("bucket[%s] found but no meta bucket: not a registry file", name)
	}); err != nil {
		return err
	}
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keyFormat, []byte(Format)); err != nil {
		return err
	}
	if err := meta.Put(keyRevision, u64(0)); err != nil {
		return err
	}
	if _, err := tx.CreateBucket(bucketTenants); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketBlobs)
	return err
}

// Path returns the file's path.
func (s *Backend) Path() string { return s.path }

// Close implements registry.Backend.Close: it closes watchers and the file,
// releasing the lock.
func (s *Backend) Close() error {
	s.feed.Close()
	return s.db.Close()
}

// Shared implements registry.Backend.Shared: false, the file is locked.
func (s *Backend) Shared() bool { return false }

// Watch implements registry.Backend.Watch. Commits are published after they
// are durable.
func (s *Backend) Watch(ctx context.Context) <-chan uint64 { return s.feed.Watch(ctx) }

// Revision implements registry.Backend.Revision.
func (s *Backend) Revision(ctx context.Context) (uint64, error) {
	var rev uint64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		rev = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyRevision))
		return nil
	})
	return rev, err
}

// Get implements registry.Backend.Get.
func (s *Backend) Get(ctx context.Context, id string) (*registry.Tenant, error) {
	var t *registry.Tenant
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketTenants).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("tenant[%s]: %w", id, registry.ErrNotFound)
		}
		var err error
		t, err = decode(id, v)
		return err
	})
	return t, err
}

// List implements registry.Backend.List.
func (s *Backend) List(ctx context.Context) ([]*registry.Tenant, error) {
	var out []*registry.Tenant
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTenants).ForEach(func(k, v []byte) error {
			t, err := decode(string(k), v)
			out = append(out, t)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update implements registry.Backend.Update in one bbolt write transaction;
// fn runs exactly once.
func (s *Backend) Update(ctx context.Context, id string, fn func(cur *registry.Tenant) (*registry.Tenant, error)) (*registry.Tenant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		out *registry.Tenant
		rev uint64
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		tenants := tx.Bucket(bucketTenants)
		var cur *registry.Tenant
		if v := tenants.Get([]byte(id)); v != nil {
			var err error
			if cur, err = decode(id, v); err != nil {
				return err
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil && cur == nil {
			return nil // nothing to delete
		}
		meta := tx.Bucket(bucketMeta)
		rev = binary.BigEndian.Uint64(meta.Get(keyRevision)) + 1
		if next == nil {
			if err := tenants.Delete([]byte(id)); err != nil {
				return err
			}
		} else {
			if next.ID != id {
				return fmt.Errorf("tenant[%s]: update returned a document for tenant[%s]: %w", id, next.ID, registry.ErrInvalid)
			}
			next.Revision = rev
			data, err := json.Marshal(next)
			if err != nil {
				return fmt.Errorf("tenant[%s]: encode document: %w", id, err)
			}
			if err := tenants.Put([]byte(id), data); err != nil {
				return err
			}
			// Hand back a copy that shares nothing with fn's arguments.
			if out, err = decode(id, data); err != nil {
				return err
			}
		}
		return meta.Put(keyRevision, u64(rev))
	})
	if err != nil {
		return nil, err
	}
	if rev != 0 {
		s.feed.Publish(rev)
	}
	return out, nil
}

// PutBlob implements registry.Backend.PutBlob.
func (s *Backend) PutBlob(ctx context.Context, tenant, hash string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.Bucket(bucketBlobs).CreateBucketIfNotExists([]byte(tenant))
		if err != nil {
			return err
		}
		v := make([]byte, 8+len(data))
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		copy(v[8:], data)
		return b.Put([]byte(hash), v)
	})
}

// Blob implements registry.Backend.Blob.
func (s *Backend) Blob(ctx context.Context, tenant, hash string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var v []byte
		if b := tx.Bucket(bucketBlobs).Bucket([]byte(tenant)); b != nil {
			v = b.Get([]byte(hash))
		}
		if len(v) < 8 {
			return fmt.Errorf("tenant[%s] blob[%s]: %w", tenant, hash, registry.ErrNotFound)
		}
		out = bytes.Clone(v[8:]) // v is only valid inside the transaction
		return nil
	})
	return out, err
}

// DeleteBlob implements registry.Backend.DeleteBlob. It drops the tenant's
// blob bucket when it becomes empty.
func (s *Backend) DeleteBlob(ctx context.Context, tenant, hash string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		blobs := tx.Bucket(bucketBlobs)
		b := blobs.Bucket([]byte(tenant))
		if b == nil {
			return nil
		}
		if err := b.Delete([]byte(hash)); err != nil {
			return err
		}
		if k, _ := b.Cursor().First(); k == nil {
			return blobs.DeleteBucket([]byte(tenant))
		}
		return nil
	})
}

// Blobs implements registry.Backend.Blobs.
func (s *Backend) Blobs(ctx context.Context, tenant string) ([]registry.BlobInfo, error) {
	var out []registry.BlobInfo
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketBlobs).Bucket([]byte(tenant))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) < 8 {
				return fmt.Errorf("tenant[%s] blob[%s]: stored value is %d bytes, shorter than its header", tenant, k, len(v))
			}
			out = append(out, registry.BlobInfo{
				Hash:      string(k),
				Size:      int64(len(v) - 8),
				WrittenAt: time.Unix(0, int64(binary.BigEndian.Uint64(v))),
			})
			return nil
		})
	})
	return out, err
}

// BlobTenants implements registry.Backend.BlobTenants.
func (s *Backend) BlobTenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketBlobs).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// view runs fn in a read transaction unless ctx is already done.
func (s *Backend) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func decode(id string, v []byte) (*registry.Tenant, error) {
	t := new(registry.Tenant)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, fmt.Errorf("tenant[%s]: decode document: %w", id, err)
	}
	return t, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
