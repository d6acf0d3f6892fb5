package tenants

import (
	"context"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// TestAwait waits for revisions of a tenant: one already served returns at
// once, a later one once the directory has applied it, and one that never
// comes when the caller gives up.
func TestAwait(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, reg := newTestDirectory(t, nil)
	created, _, err := reg.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := d.Await(ctx, "acme", created.Revision); err != nil || !ok || st.Revision < created.Revision {
		t.Fatalf("Await(created) = %+v %v %v", st, ok, err)
	}

	next := created.Revision + 1
	got := make(chan Status)
	go func() {
		st, _, err := d.Await(ctx, "acme", next)
		if err != nil {
			t.Error(err)
		}
		got <- st
	}()
	if _, err := reg.SetSettings(ctx, "acme", registry.Settings{Config: map[string]string{"k": "v"}}, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if st := <-got; st.Revision < next {
		t.Errorf("Await returned revision %d, want %d or later", st.Revision, next)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if st, ok, err := d.Await(cctx, "acme", next+100); err == nil || !ok || st.Revision < next {
		t.Errorf("Await(a revision that never comes) = %+v %v %v, want the status so far and an error", st, ok, err)
	}
	if _, ok, err := d.Await(cctx, "nobody", 1); err == nil || ok {
		t.Errorf("Await(unknown tenant) = %v %v, want not served and an error", ok, err)
	}
}
