package registrytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// runHammer has goroutines upload, activate, roll back and delete versions
// of the same tenant while garbage collection runs, then checks that every
// revision seen was increasing and that the store's invariants hold.
func runHammer(t *testing.T, open func(t *testing.T) registry.Backend) {
	const (
		workers = 4
		rounds  = 20
	)
	r, b := newRegistry(t, open)
	ctx := t.Context()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{KeepVersions: 3}); err != nil {
		t.Fatal(err)
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan error, 1)
	go func() {
		var last uint64
		for rev := range r.Watch(watchCtx) {
			if rev <= last {
				watched <- fmt.Errorf("watch reported %d after %d", rev, last)
				return
			}
			last = rev
		}
		watched <- nil
	}()

	gcDone := make(chan struct{})
	var gcErr error
	go func() {
		defer close(gcDone)
		for {
			select {
			case <-watchCtx.Done():
				return
			default:
			}
			if _, err := r.CollectGarbage(ctx); err != nil {
				gcErr = err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		plugin := fmt.Sprintf("p%d", w%2) // two workers per plugin
		wg.Go(func() {
			var last uint64
			seen := func(tn *registry.Tenant) error {
				if tn.Revision <= last {
					return fmt.Errorf("worker %d: revision %d after %d", w, tn.Revision, last)
				}
				last = tn.Revision
				return nil
			}
			for i := range rounds {
				data, info := Blob(fmt.Sprintf("w%d-%d", w, i))
				tn, _, err := r.AddVersion(ctx, "acme", plugin, data, info, registry.AnyRevision)
				if err == nil {
					err = seen(tn)
				}
				if err == nil {
					tn, err = r.Activate(ctx, "acme", plugin, info.Hash, registry.AnyRevision)
					// Another worker's upload may have pruned it already.
					if errors.Is(err, registry.ErrNotFound) {
						err = nil
					} else if err == nil {
						err = seen(tn)
					}
				}
				if err == nil && i%3 == 2 {
					_, err = r.Rollback(ctx, "acme", plugin, registry.AnyRevision)
					if errors.Is(err, registry.ErrNotFound) {
						err = nil
					}
				}
				if err == nil && i%5 == 4 {
					_, prev := Blob(fmt.Sprintf("w%d-%d", w, i-1))
					_, err = r.DeleteVersion(ctx, "acme", plugin, prev.Hash, registry.AnyRevision)
					if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrActive) {
						err = nil
					}
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stopWatch()
	<-gcDone
	if gcErr != nil {
		t.Fatalf("concurrent CollectGarbage: %v", gcErr)
	}
	if err := <-watched; err != nil {
		t.Fatal(err)
	}
	// In-flight protection may have left blobs of versions pruned while
	// their upload was running; one quiet collection removes them.
	if err := Check(ctx, b, true); err != nil {
		t.Fatalf("invariants after hammer: %v", err)
	}
	if _, err := r.CollectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b)
	tn, err := r.Tenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tn.Plugins {
		if p.Active == "" {
			t.Errorf("plugin[%s] has no active version after the hammer", p.Name)
		}
		if len(p.Versions) > tn.Settings.Keep()+1 {
			t.Errorf("plugin[%s] keeps %d versions, more than %d+1", p.Name, len(p.Versions), tn.Settings.Keep())
		}
	}
	if rev, _ := r.Revision(ctx); rev != tn.Revision {
		t.Errorf("store revision %d, tenant revision %d: the only tenant made the last change", rev, tn.Revision)
	}
}
