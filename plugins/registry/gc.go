package registry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CollectGarbage deletes the blobs no tenant document refers to and returns
// how many it deleted. New runs it at startup; the Registry also runs it for
// one tenant after every change that drops versions.
//
// A blob is kept while an upload of it is in flight in this process. On a
// shared backend it is also kept until it is Options.BlobGrace old, because
// another process may have written it and not yet committed its version.
func (r *Registry) CollectGarbage(ctx context.Context) (int, error) {
	tenants, err := r.b.BlobTenants(ctx)
	if err != nil {
		return 0, fmt.Errorf("list blob owners: %w", err)
	}
	total := 0
	for _, id := range tenants {
		n, err := r.collect(ctx, id)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// collectQuietly runs collect after a committed change. Its error is dropped
// on purpose: the change succeeded, and a blob left behind is collected by
// the next CollectGarbage (at the latest, the next start).
func (r *Registry) collectQuietly(ctx context.Context, tenant string) {
	_, _ = r.collect(ctx, tenant)
}

// collect deletes tenant's unreferenced blobs.
//
// The order matters. Blobs are listed first, then the in-flight uploads are
// noted, then the document is read: a blob listed in step 1 either had its
// version committed before step 3 (so the document refers to it) or was
// still in flight at step 2. Each deletion re-checks the in-flight set under
// the lock that AddVersion takes before writing, so an upload of the same
// hash starting now rewrites the blob after the deletion, not before.
func (r *Registry) collect(ctx context.Context, tenant string) (int, error) {
	blobs, err := r.b.Blobs(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("tenant[%s]: list blobs: %w", tenant, err)
	}
	if len(blobs) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	inflight := make(map[string]bool)
	for k := range r.pending {
		if k.tenant == tenant {
			inflight[k.hash] = true
		}
	}
	r.mu.Unlock()

	refs := map[string]bool{}
	t, err := r.b.Get(ctx, tenant)
	switch {
	case err == nil:
		refs = t.referenced()
	case !errors.Is(err, ErrNotFound):
		return 0, fmt.Errorf("tenant[%s]: read document: %w", tenant, err)
	}

	shared := r.b.Shared()
	now := time.Now()
	n := 0
	for _, b := range blobs {
		if refs[b.Hash] || inflight[b.Hash] || (shared && now.Sub(b.WrittenAt) < r.grace) {
			continue
		}
		r.mu.Lock()
		if r.pending[blobKey{tenant, b.Hash}] == 0 {
			err = r.b.DeleteBlob(ctx, tenant, b.Hash)
			if err == nil {
				n++
			}
		}
		r.mu.Unlock()
		if err != nil {
			return n, fmt.Errorf("tenant[%s] blob[%s]: delete: %w", tenant, b.Hash, err)
		}
	}
	return n, nil
}
