package registry

import (
	"context"
	"time"
)

// Backend stores tenant documents and plugin blobs. It is the part of the
// registry that changes with the storage (bbolt or Redis); every rule
// about what may change lives in Registry, once. A Backend only has to make
// each call atomic and durable, and keep the revision counter.
//
// The conformance suite in package registrytest checks every rule below; a
// new backend is done when it passes.
//
// # Contract
//
//   - Documents. Get and List return decoded copies the caller may change.
//     Get of a missing tenant returns an error wrapping ErrNotFound. List is
//     sorted by ID.
//   - Update is one atomic, durable transaction on one tenant document plus
//     the global revision counter. It calls fn with a copy of the current
//     document (nil when the tenant does not exist). If fn returns an error,
//     nothing is written and Update returns that error unchanged. Otherwise,
//     with r = Revision()+1, it stores fn's result with its Revision set to r
//     (or deletes the tenant when fn returns nil), sets the global revision to
//     r, commits, then notifies watchers and returns the stored document (nil
//     after a delete). fn may be called more than once (a backend with
//     optimistic transactions re-runs it after a conflict) and must have no
//     side effects. fn returning a document whose ID differs from id is a
//     programming error the backend reports as ErrInvalid.
//   - Revision is the revision of the last committed Update, 0 for an empty
//     store. It never decreases, even across restarts.
//   - Blobs are keyed by tenant and hash; one tenant cannot reach another's.
//     PutBlob stores data under (tenant, hash) durably before it returns,
//     replacing any blob there and setting its WrittenAt to now; it does not
//     check the hash (the Registry does). Blob returns a copy, or ErrNotFound.
//     DeleteBlob of a missing blob is not an error. Blob writes do not change
//     the revision: blobs are only reachable through documents.
//   - Watch returns a channel that receives the global revision after
//     commits, coalesced: a slow reader gets the newest value, never an older
//     one after a newer one, and may miss intermediate values. It is closed
//     when ctx is done or the backend is closed. A backend shared between
//     processes must also deliver other processes' commits (within about a
//     second, even if its notification transport drops messages).
//   - Shared reports whether other processes may write the same store at the
//     same time (Redis) or not (a locked bbolt file). It decides how careful
//     blob garbage collection must be; see Registry.CollectGarbage.
//   - All methods are safe for concurrent use. After Close, methods fail.
type Backend interface {
	// Get returns a copy of tenant id's document, or ErrNotFound.
	Get(ctx context.Context, id string) (*Tenant, error)
	// List returns copies of every tenant document, sorted by ID.
	List(ctx context.Context) ([]*Tenant, error)
	// Update changes tenant id's document in one transaction; see the Backend doc.
	Update(ctx context.Context, id string, fn func(cur *Tenant) (*Tenant, error)) (*Tenant, error)
	// Revision returns the revision of the last committed Update.
	Revision(ctx context.Context) (uint64, error)

	// PutBlob durably stores data as tenant's blob hash.
	PutBlob(ctx context.Context, tenant, hash string, data []byte) error
	// Blob returns a copy of tenant's blob hash, or ErrNotFound.
	Blob(ctx context.Context, tenant, hash string) ([]byte, error)
	// DeleteBlob deletes tenant's blob hash, if present.
	DeleteBlob(ctx context.Context, tenant, hash string) error
	// Blobs lists the blobs stored for tenant, sorted by hash.
	Blobs(ctx context.Context, tenant string) ([]BlobInfo, error)
	// BlobTenants lists, sorted, the tenants that have at least one blob,
	// including tenants whose document is gone.
	BlobTenants(ctx context.Context) ([]string, error)

	// Watch reports committed revisions, coalesced; see the Backend doc.
	Watch(ctx context.Context) <-chan uint64
	// Shared reports whether other processes may write the store too.
	Shared() bool
	// Close releases the store and closes every Watch channel.
	Close() error
}

// BlobInfo describes one stored blob without its bytes.
type BlobInfo struct {
	Hash      string
	Size      int64
	WrittenAt time.Time
}
