package registrytest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
)

// runBackend checks the Backend contract without the Registry.
func runBackend(t *testing.T, open func(t *testing.T) registry.Backend) {
	t.Run("EmptyStore", func(t *testing.T) {
		b := open(t)
		ctx := t.Context()
		rev, err := b.Revision(ctx)
		if err != nil || rev != 0 {
			t.Fatalf("Revision = %d, %v; want 0, nil", rev, err)
		}
		if ts, err := b.List(ctx); err != nil || len(ts) != 0 {
			t.Fatalf("List = %v, %v; want empty", ts, err)
		}
		_, err = b.Get(ctx, "nobody")
		wantErr(t, "Get(nobody)", err, registry.ErrNotFound)
		_, err = b.Blob(ctx, "nobody", "00")
		wantErr(t, "Blob(nobody)", err, registry.ErrNotFound)
		if owners, err := b.BlobTenants(ctx); err != nil || len(owners) != 0 {
			t.Fatalf("BlobTenants = %v, %v; want empty", owners, err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		b := open(t)
		ctx := t.Context()
		put := func(id string) *registry.Tenant {
			t.Helper()
			got, err := b.Update(ctx, id, func(cur *registry.Tenant) (*registry.Tenant, error) {
				if cur == nil {
					cur = &registry.Tenant{ID: id}
				}
				cur.Settings.Config = map[string]string{"n": cur.Settings.Config["n"] + "x"}
				return cur, nil
			})
			if err != nil {
				t.Fatalf("Update(%s): %v", id, err)
			}
			return got
		}
		a1 := put("a")
		c1 := put("c")
		b1 := put("b")
		a2 := put("a")
		if revs := []uint64{a1.Revision, c1.Revision, b1.Revision, a2.Revision}; !slices.Equal(revs, []uint64{1, 2, 3, 4}) {
			t.Fatalf("revisions = %v, want 1 2 3 4 (global counter, one per commit)", revs)
		}
		if rev, _ := b.Revision(ctx); rev != 4 {
			t.Fatalf("Revision = %d, want 4", rev)
		}
		got, err := b.Get(ctx, "a")
		if err != nil || got.Revision != 4 || got.Settings.Config["n"] != "xx" {
			t.Fatalf("Get(a) = %+v, %v; want revision 4 and config n=xx", got, err)
		}
		list, err := b.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if !slices.Equal(ids, []string{"a", "b", "c"}) {
			t.Fatalf("List IDs = %v, want sorted a b c", ids)
		}

		// Returned documents are copies.
		got.Settings.Config["n"] = "changed"
		if again, _ := b.Get(ctx, "a"); again.Settings.Config["n"] != "xx" {
			t.Fatal("changing a returned document changed the store")
		}

		// fn's error aborts and is returned unchanged; nothing is written.
		boom := errors.New("boom")
		_, err = b.Update(ctx, "a", func(cur *registry.Tenant) (*registry.Tenant, error) {
			cur.Settings.Config["n"] = "lost"
			return nil, boom
		})
		if err != boom {
			t.Fatalf("Update with failing fn = %v, want the fn's error itself", err)
		}
		if rev, _ := b.Revision(ctx); rev != 4 {
			t.Fatalf("Revision after aborted update = %d, want 4", rev)
		}
		if again, _ := b.Get(ctx, "a"); again.Settings.Config["n"] != "xx" {
			t.Fatal("aborted update was written")
		}

		// A document for another ID is refused.
		_, err = b.Update(ctx, "a", func(cur *registry.Tenant) (*registry.Tenant, error) {
			cur.ID = "z"
			return cur, nil
		})
		wantErr(t, "Update returning another ID", err, registry.ErrInvalid)

		// Deleting bumps the revision; deleting nothing does not.
		del, err := b.Update(ctx, "b", func(*registry.Tenant) (*registry.Tenant, error) { return nil, nil })
		if err != nil || del != nil {
			t.Fatalf("delete = %v, %v; want nil, nil", del, err)
		}
		if rev, _ := b.Revision(ctx); rev != 5 {
			t.Fatalf("Revision after delete = %d, want 5", rev)
		}
		_, err = b.Get(ctx, "b")
		wantErr(t, "Get(deleted)", err, registry.ErrNotFound)
		_, err = b.Update(ctx, "b", func(cur *registry.Tenant) (*registry.Tenant, error) {
			if cur != nil {
				t.Errorf("deleted tenant passed to fn as %+v", cur)
			}
			return nil, nil
		})
		if err != nil {
			t.Fatalf("deleting a missing tenant: %v", err)
		}
		if rev, _ := b.Revision(ctx); rev != 5 {
			t.Fatalf("Revision after no-op delete = %d, want 5", rev)
		}
		// A recreated tenant continues from the global revision.
		if b2 := put("b"); b2.Revision != 6 {
			t.Fatalf("recreated tenant revision = %d, want 6", b2.Revision)
		}
	})

	t.Run("Blobs", func(t *testing.T) {
		b := open(t)
		ctx := t.Context()
		data, info := Blob("one")
		before := time.Now().Add(-time.Second)
		if err := b.PutBlob(ctx, "a", info.Hash, data); err != nil {
			t.Fatal(err)
		}
		if rev, _ := b.Revision(ctx); rev != 0 {
			t.Fatalf("PutBlob changed the revision to %d", rev)
		}
		got, err := b.Blob(ctx, "a", info.Hash)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Blob = %q, %v; want %q", got, err, data)
		}
		got[0] = 'X'
		if again, _ := b.Blob(ctx, "a", info.Hash); !bytes.Equal(again, data) {
			t.Fatal("changing a returned blob changed the store")
		}
		_, err = b.Blob(ctx, "b", info.Hash)
		wantErr(t, "tenant b reading tenant a's blob", err, registry.ErrNotFound)
		if err := b.DeleteBlob(ctx, "b", info.Hash); err != nil {
			t.Fatalf("DeleteBlob of a missing blob: %v", err)
		}
		if _, err := b.Blob(ctx, "a", info.Hash); err != nil {
			t.Fatalf("tenant b's delete removed tenant a's blob: %v", err)
		}

		data2, info2 := Blob("two, longer")
		if err := b.PutBlob(ctx, "a", info2.Hash, data2); err != nil {
			t.Fatal(err)
		}
		if err := b.PutBlob(ctx, "c", info.Hash, data); err != nil {
			t.Fatal(err)
		}
		list, err := b.Blobs(ctx, "a")
		if err != nil || len(list) != 2 {
			t.Fatalf("Blobs(a) = %v, %v; want 2", list, err)
		}
		want := map[string]int64{info.Hash: info.Size, info2.Hash: info2.Size}
		for i, bi := range list {
			if i > 0 && list[i-1].Hash >= bi.Hash {
				t.Fatalf("Blobs not sorted: %v", list)
			}
			if want[bi.Hash] != bi.Size {
				t.Fatalf("Blobs(a) entry %+v, want size %d", bi, want[bi.Hash])
			}
			if bi.WrittenAt.Before(before) || bi.WrittenAt.After(time.Now().Add(time.Second)) {
				t.Fatalf("Blobs(a) entry %+v: WrittenAt not the write time", bi)
			}
		}
		if owners, err := b.BlobTenants(ctx); err != nil || !slices.Equal(owners, []string{"a", "c"}) {
			t.Fatalf("BlobTenants = %v, %v; want a c", owners, err)
		}
		for _, h := range []string{info.Hash, info2.Hash} {
			if err := b.DeleteBlob(ctx, "a", h); err != nil {
				t.Fatal(err)
			}
		}
		if owners, _ := b.BlobTenants(ctx); !slices.Equal(owners, []string{"c"}) {
			t.Fatalf("BlobTenants after deleting a's blobs = %v, want c", owners)
		}
	})

	t.Run("Watch", func(t *testing.T) {
		b := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		ch := b.Watch(ctx)
		for _, id := range []string{"a", "b"} {
			if _, err := b.Update(t.Context(), id, func(*registry.Tenant) (*registry.Tenant, error) {
				return &registry.Tenant{ID: id}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		waitRevision(t, ch, 2)
		cancel()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-deadline:
				t.Fatal("Watch channel not closed after its context was cancelled")
			}
		}
	})
}

// waitRevision reads ch until it reports rev or more.
func waitRevision(t *testing.T, ch <-chan uint64, rev uint64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	var last uint64
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed at revision %d, waiting for %d", last, rev)
			}
			if got < last {
				t.Fatalf("watch went backwards: %d after %d", got, last)
			}
			if last = got; got >= rev {
				return
			}
		case <-deadline:
			t.Fatalf("watch reported %d, waited 5s for %d", last, rev)
		}
	}
}
