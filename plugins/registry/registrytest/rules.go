package registrytest

import (
	"slices"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/registry"
)

// runRegistry checks the Registry's rules on top of the backend.
func runRegistry(t *testing.T, open func(t *testing.T) registry.Backend) {
	t.Run("Tenants", func(t *testing.T) { testTenants(t, open) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, open) })
	t.Run("AddVersionErrors", func(t *testing.T) { testAddVersionErrors(t, open) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, open) })
	t.Run("Plugins", func(t *testing.T) { testPlugins(t, open) })
	t.Run("Conflicts", func(t *testing.T) { testConflicts(t, open) })
	t.Run("GarbageCollection", func(t *testing.T) { testGC(t, open) })
	t.Run("Watch", func(t *testing.T) { testWatch(t, open) })
}

func testTenants(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()

	s := registry.Settings{Config: map[string]string{"greeting": "hi"}, Grants: []string{limits.GrantRandom}}
	acme, token, err := r.CreateTenant(ctx, "acme", s)
	if err != nil {
		t.Fatal(err)
	}
	if acme.Revision == 0 || acme.CreatedAt.IsZero() || acme.Settings.Config["greeting"] != "hi" {
		t.Fatalf("created tenant = %+v", acme)
	}
	if len(token) < 32 || strings.Contains(acme.TokenHash, token) {
		t.Fatalf("token %q too short or stored in the clear", token)
	}
	if !acme.VerifyToken(token) || !r.VerifyToken(ctx, "acme", token) {
		t.Fatal("VerifyToken refuses the token CreateTenant returned")
	}
	for _, bad := range []string{"", token + "x", token[:len(token)-1]} {
		if r.VerifyToken(ctx, "acme", bad) {
			t.Fatalf("VerifyToken accepts %q", bad)
		}
	}
	if r.VerifyToken(ctx, "nobody", token) {
		t.Fatal("VerifyToken accepts a token for an unknown tenant")
	}

	_, _, err = r.CreateTenant(ctx, "acme", registry.Settings{})
	wantErr(t, "CreateTenant twice", err, registry.ErrExists)
	_, _, err = r.CreateTenant(ctx, "Bad ID", registry.Settings{})
	wantErr(t, "CreateTenant with a bad ID", err, registry.ErrInvalid)
	_, _, err = r.CreateTenant(ctx, "other", registry.Settings{Grants: []string{"network"}})
	wantErr(t, "CreateTenant with bad settings", err, registry.ErrInvalid)
	_, err = r.Tenant(ctx, "other")
	wantErr(t, "Tenant after failed create", err, registry.ErrNotFound)

	rotated, token2, err := r.RotateToken(ctx, "acme", acme.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if token2 == token || rotated.Revision <= acme.Revision {
		t.Fatalf("RotateToken: same token or revision %d not above %d", rotated.Revision, acme.Revision)
	}
	if r.VerifyToken(ctx, "acme", token) || !r.VerifyToken(ctx, "acme", token2) {
		t.Fatal("after RotateToken the old token must fail and the new one pass")
	}

	s.KeepVersions = 2
	updated, err := r.SetSettings(ctx, "acme", s, rotated.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Settings.KeepVersions != 2 || updated.TokenHash != rotated.TokenHash || !updated.CreatedAt.Equal(acme.CreatedAt) {
		t.Fatalf("SetSettings changed more than the settings: %+v", updated)
	}
	_, err = r.SetSettings(ctx, "acme", registry.Settings{KeepVersions: -1}, registry.AnyRevision)
	wantErr(t, "SetSettings with bad settings", err, registry.ErrInvalid)
	_, err = r.SetSettings(ctx, "nobody", registry.Settings{}, registry.AnyRevision)
	wantErr(t, "SetSettings of an unknown tenant", err, registry.ErrNotFound)

	if _, _, err := r.CreateTenant(ctx, "beta", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	list, err := r.Tenants(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "acme" || list[1].ID != "beta" {
		t.Fatalf("Tenants = %v, %v; want acme, beta", list, err)
	}

	data, info := Blob("acme-v1")
	if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteTenant unknown", r.DeleteTenant(ctx, "nobody", registry.AnyRevision), registry.ErrNotFound)
	if err := r.DeleteTenant(ctx, "acme", registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	_, err = r.Tenant(ctx, "acme")
	wantErr(t, "Tenant after delete", err, registry.ErrNotFound)
	_, err = b.Blob(ctx, "acme", info.Hash)
	wantErr(t, "blob after DeleteTenant", err, registry.ErrNotFound)
	mustCheck(t, b)
}

func testVersions(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	var infos []registry.VersionInfo
	var last uint64
	for i, seed := range []string{"v1", "v2", "v3"} {
		data, info := Blob(seed)
		tn, v, err := r.AddVersion(ctx, "acme", "mod", data, info, registry.AnyRevision)
		if err != nil {
			t.Fatal(err)
		}
		if tn.Revision <= last {
			t.Fatalf("revision %d after %d", tn.Revision, last)
		}
		last = tn.Revision
		if v.Hash != info.Hash || v.Size != info.Size || v.ABIVersion != 1 || v.UploadedAt.IsZero() {
			t.Fatalf("AddVersion returned %+v for %+v", v, info)
		}
		p, _ := tn.Plugin("mod")
		if len(p.Versions) != i+1 || p.Active != "" {
			t.Fatalf("after upload %d: %d versions, active %q; want %d, none", i+1, len(p.Versions), p.Active, i+1)
		}
		infos = append(infos, info)
	}

	// The same bytes again change nothing.
	data, info := Blob("v2")
	tn, v, err := r.AddVersion(ctx, "acme", "mod", data, info, registry.AnyRevision)
	if err != nil || tn.Revision != last || v.Hash != info.Hash {
		t.Fatalf("re-upload = revision %d, %+v, %v; want unchanged revision %d", tn.Revision, v, err, last)
	}

	active := func(tn *registry.Tenant) string {
		p, _ := tn.Plugin("mod")
		return p.Active
	}
	for _, step := range []struct {
		name string
		do   func() (*registry.Tenant, error)
		want string // active hash afterwards
		err  error
	}{
		{"rollback with no history", func() (*registry.Tenant, error) { return r.Rollback(ctx, "acme", "mod", 0) }, "", registry.ErrNotFound},
		{"activate v1", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "mod", infos[0].Hash, 0) }, infos[0].Hash, nil},
		{"activate v2", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "mod", infos[1].Hash, 0) }, infos[1].Hash, nil},
		{"activate v3", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "mod", infos[2].Hash, 0) }, infos[2].Hash, nil},
		{"rollback to v2", func() (*registry.Tenant, error) { return r.Rollback(ctx, "acme", "mod", 0) }, infos[1].Hash, nil},
		{"rollback to v1", func() (*registry.Tenant, error) { return r.Rollback(ctx, "acme", "mod", 0) }, infos[0].Hash, nil},
		{"rollback past the first", func() (*registry.Tenant, error) { return r.Rollback(ctx, "acme", "mod", 0) }, infos[0].Hash, registry.ErrNotFound},
		{"activate v3 again", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "mod", infos[2].Hash, 0) }, infos[2].Hash, nil},
		{"rollback to v1 after re-activation", func() (*registry.Tenant, error) { return r.Rollback(ctx, "acme", "mod", 0) }, infos[0].Hash, nil},
		{"activate unknown hash", func() (*registry.Tenant, error) {
			_, i := Blob("never uploaded")
			return r.Activate(ctx, "acme", "mod", i.Hash, 0)
		}, infos[0].Hash, registry.ErrNotFound},
		{"activate bad hash", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "mod", "abc", 0) }, infos[0].Hash, registry.ErrInvalid},
		{"activate on unknown plugin", func() (*registry.Tenant, error) { return r.Activate(ctx, "acme", "nope", infos[0].Hash, 0) }, infos[0].Hash, registry.ErrNotFound},
		{"delete active version", func() (*registry.Tenant, error) { return r.DeleteVersion(ctx, "acme", "mod", infos[0].Hash, 0) }, infos[0].Hash, registry.ErrActive},
		{"delete v3", func() (*registry.Tenant, error) { return r.DeleteVersion(ctx, "acme", "mod", infos[2].Hash, 0) }, infos[0].Hash, nil},
		{"delete v3 again", func() (*registry.Tenant, error) { return r.DeleteVersion(ctx, "acme", "mod", infos[2].Hash, 0) }, infos[0].Hash, registry.ErrNotFound},
	} {
		tn, err := step.do()
		wantErr(t, step.name, err, step.err)
		got, gerr := r.Tenant(ctx, "acme")
		if gerr != nil {
			t.Fatal(gerr)
		}
		if active(got) != step.want {
			t.Fatalf("%s: active %.8s, want %.8s", step.name, active(got), step.want)
		}
		if err == nil && tn.Revision != got.Revision {
			t.Fatalf("%s: returned revision %d, stored %d", step.name, tn.Revision, got.Revision)
		}
	}
	if _, err := b.Blob(ctx, "acme", infos[2].Hash); err == nil {
		t.Fatal("blob of a deleted version is still stored")
	}

	// Activating the active version changes nothing.
	before, _ := r.Tenant(ctx, "acme")
	same, err := r.Activate(ctx, "acme", "mod", infos[0].Hash, before.Revision)
	if err != nil || same.Revision != before.Revision {
		t.Fatalf("re-activation = revision %d, %v; want unchanged %d", same.Revision, err, before.Revision)
	}
	blob, err := r.Blob(ctx, "acme", infos[0].Hash)
	if want, _ := Blob("v1"); err != nil || string(blob) != string(want) {
		t.Fatalf("Blob = %q, %v", blob, err)
	}
	mustCheck(t, b)
}

func testAddVersionErrors(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	data, good := Blob("good")
	for _, tc := range []struct {
		name           string
		tenant, plugin string
		data           []byte
		edit           func(*registry.VersionInfo)
		want           error
	}{
		{"hash mismatch", "acme", "mod", []byte("other bytes"), nil, registry.ErrInvalid},
		{"size mismatch", "acme", "mod", data, func(i *registry.VersionInfo) { i.Size++ }, registry.ErrInvalid},
		{"uppercase hash", "acme", "mod", data, func(i *registry.VersionInfo) { i.Hash = strings.ToUpper(i.Hash) }, registry.ErrInvalid},
		{"no abi version", "acme", "mod", data, func(i *registry.VersionInfo) { i.ABIVersion = 0 }, registry.ErrInvalid},
		{"no commands", "acme", "mod", data, func(i *registry.VersionInfo) { i.Commands = nil }, registry.ErrInvalid},
		{"bad command", "acme", "mod", data, func(i *registry.VersionInfo) { i.Commands = []string{"sendMsg"} }, registry.ErrInvalid},
		{"duplicate command", "acme", "mod", data, func(i *registry.VersionInfo) { i.Commands = []string{CmdAfterSend, CmdAfterSend} }, registry.ErrInvalid},
		{"bad plugin name", "acme", "Mod!", data, nil, registry.ErrInvalid},
		{"bad tenant", "../x", "mod", data, nil, registry.ErrInvalid},
		{"unknown tenant", "nobody", "mod", data, nil, registry.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info := good
			info.Commands = slices.Clone(good.Commands)
			if tc.edit != nil {
				tc.edit(&info)
			}
			_, _, err := r.AddVersion(ctx, tc.tenant, tc.plugin, tc.data, info, registry.AnyRevision)
			wantErr(t, "AddVersion", err, tc.want)
		})
	}
	tn, _ := r.Tenant(ctx, "acme")
	if len(tn.Plugins) != 0 {
		t.Fatalf("failed uploads created plugins: %+v", tn.Plugins)
	}
	mustCheck(t, b) // and no blob was left behind
}

func testRetention(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{KeepVersions: 3}); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	upload := func(seed string) {
		t.Helper()
		data, info := Blob(seed)
		if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, registry.AnyRevision); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, info.Hash)
	}
	kept := func() []string {
		t.Helper()
		tn, err := r.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		p, _ := tn.Plugin("mod")
		var out []string
		for _, v := range p.Versions {
			out = append(out, v.Hash)
		}
		return out
	}
	for _, s := range []string{"v0", "v1", "v2"} {
		upload(s)
	}
	if _, err := r.Activate(ctx, "acme", "mod", hashes[0], 0); err != nil {
		t.Fatal(err)
	}
	upload("v3") // v0 is active, so v1 goes
	if got, want := kept(), []string{hashes[0], hashes[2], hashes[3]}; !slices.Equal(got, want) {
		t.Fatalf("kept %.8v, want %.8v (oldest inactive pruned)", got, want)
	}
	if _, err := b.Blob(ctx, "acme", hashes[1]); err == nil {
		t.Fatal("pruned version's blob is still stored")
	}
	for _, h := range []string{hashes[2], hashes[3]} {
		if _, err := r.Activate(ctx, "acme", "mod", h, 0); err != nil {
			t.Fatal(err)
		}
	}
	// Keep 1: only the active version and the newest (not yet active) stay.
	upload("v4")
	if _, err := r.SetSettings(ctx, "acme", registry.Settings{KeepVersions: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := kept(), []string{hashes[3], hashes[4]}; !slices.Equal(got, want) {
		t.Fatalf("kept %.8v, want active and newest %.8v", got, want)
	}
	tn, _ := r.Tenant(ctx, "acme")
	if p, _ := tn.Plugin("mod"); len(p.History) != 0 {
		t.Fatalf("history %.8v names pruned versions", p.History)
	}
	_, err := r.Rollback(ctx, "acme", "mod", 0)
	wantErr(t, "rollback after the history was pruned", err, registry.ErrNotFound)
	if _, err := r.Activate(ctx, "acme", "mod", hashes[4], 0); err != nil {
		t.Fatal(err)
	}
	if got, want := kept(), []string{hashes[4]}; !slices.Equal(got, want) {
		t.Fatalf("kept %.8v after activating the newest with keep 1, want %.8v", got, want)
	}
	mustCheck(t, b)
}

func testPlugins(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	// moderation and audit handle the before command; sync handles only the after one.
	shared, sharedInfo := Blob("shared build", CmdBeforeSend, CmdAfterSend)
	for _, p := range []struct {
		name string
		cmds []string
	}{
		{"moderation", []string{CmdBeforeSend}},
		{"sync", []string{CmdAfterSend}},
		{"audit", []string{CmdBeforeSend, CmdAfterSend}},
	} {
		data, info := Blob(p.name, p.cmds...)
		if _, _, err := r.AddVersion(ctx, "acme", p.name, data, info, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Activate(ctx, "acme", p.name, info.Hash, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The same blob in two plugins is stored once and survives deleting one.
	for _, name := range []string{"sync", "audit"} {
		if _, _, err := r.AddVersion(ctx, "acme", name, shared, sharedInfo, 0); err != nil {
			t.Fatal(err)
		}
	}
	chain := func(cmd string) []string {
		t.Helper()
		tn, err := r.Tenant(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, bd := range tn.Chain(cmd) {
			out = append(out, bd.Plugin)
		}
		return out
	}
	if got := chain(CmdBeforeSend); !slices.Equal(got, []string{"moderation", "audit"}) {
		t.Fatalf("chain = %v, want moderation, audit (upload order)", got)
	}
	if got := chain(CmdAfterSend); !slices.Equal(got, []string{"sync", "audit"}) {
		t.Fatalf("chain = %v, want sync, audit", got)
	}
	if _, err := r.Reorder(ctx, "acme", []string{"audit", "sync", "moderation"}, 0); err != nil {
		t.Fatal(err)
	}
	if got := chain(CmdBeforeSend); !slices.Equal(got, []string{"audit", "moderation"}) {
		t.Fatalf("chain after reorder = %v, want audit, moderation", got)
	}
	for _, bad := range [][]string{{"audit", "sync"}, {"audit", "sync", "moderation", "sync"}, {"audit", "sync", "other"}} {
		_, err := r.Reorder(ctx, "acme", bad, 0)
		wantErr(t, "Reorder "+strings.Join(bad, ","), err, registry.ErrInvalid)
	}
	if _, err := r.SetSettings(ctx, "acme", registry.Settings{Commands: []string{CmdAfterSend}}, 0); err != nil {
		t.Fatal(err)
	}
	if got := chain(CmdBeforeSend); got != nil {
		t.Fatalf("chain of a disabled command = %v, want none", got)
	}

	if _, err := r.DeletePlugin(ctx, "acme", "sync", 0); err != nil {
		t.Fatal(err)
	}
	_, err := r.DeletePlugin(ctx, "acme", "sync", 0)
	wantErr(t, "DeletePlugin twice", err, registry.ErrNotFound)
	if got := chain(CmdAfterSend); !slices.Equal(got, []string{"audit"}) {
		t.Fatalf("chain after deleting sync = %v, want audit", got)
	}
	if _, err := b.Blob(ctx, "acme", sharedInfo.Hash); err != nil {
		t.Fatalf("blob still used by audit was deleted with sync: %v", err)
	}
	_, info := Blob("sync", CmdAfterSend)
	if _, err := b.Blob(ctx, "acme", info.Hash); err == nil {
		t.Fatal("blob used only by the deleted plugin is still stored")
	}
	mustCheck(t, b)
}

func testConflicts(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, b := newRegistry(t, open)
	ctx := t.Context()
	tn, _, err := r.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	stale := tn.Revision
	data, info := Blob("v1")
	tn, _, err = r.AddVersion(ctx, "acme", "mod", data, info, stale)
	if err != nil {
		t.Fatal(err)
	}
	fresh := tn.Revision
	ops := []struct {
		name string
		do   func(rev uint64) error
	}{
		{"SetSettings", func(rev uint64) error { _, err := r.SetSettings(ctx, "acme", registry.Settings{}, rev); return err }},
		{"RotateToken", func(rev uint64) error { _, _, err := r.RotateToken(ctx, "acme", rev); return err }},
		{"AddVersion", func(rev uint64) error {
			d, i := Blob("v2")
			_, _, err := r.AddVersion(ctx, "acme", "mod", d, i, rev)
			return err
		}},
		{"Activate", func(rev uint64) error { _, err := r.Activate(ctx, "acme", "mod", info.Hash, rev); return err }},
		{"Rollback", func(rev uint64) error { _, err := r.Rollback(ctx, "acme", "mod", rev); return err }},
		{"DeleteVersion", func(rev uint64) error { _, err := r.DeleteVersion(ctx, "acme", "mod", info.Hash, rev); return err }},
		{"Reorder", func(rev uint64) error { _, err := r.Reorder(ctx, "acme", []string{"mod"}, rev); return err }},
		{"DeletePlugin", func(rev uint64) error { _, err := r.DeletePlugin(ctx, "acme", "mod", rev); return err }},
		{"DeleteTenant", func(rev uint64) error { return r.DeleteTenant(ctx, "acme", rev) }},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			wantErr(t, op.name+" with a stale revision", op.do(stale), registry.ErrConflict)
			if got, _ := r.Tenant(ctx, "acme"); got.Revision != fresh {
				t.Fatalf("a refused %s changed the revision to %d", op.name, got.Revision)
			}
		})
	}
	mustCheck(t, b)
	// The current revision is accepted.
	if err := r.DeleteTenant(ctx, "acme", fresh); err != nil {
		t.Fatal(err)
	}
}

func testGC(t *testing.T, open func(t *testing.T) registry.Backend) {
	b := open(t)
	ctx := t.Context()
	r, err := registry.New(ctx, b, registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	data, info := Blob("kept")
	if _, _, err := r.AddVersion(ctx, "acme", "mod", data, info, 0); err != nil {
		t.Fatal(err)
	}
	// What a process killed between a blob write and its commit leaves:
	// a blob of a live tenant no version refers to, and one of a tenant
	// whose document is gone.
	orphan, oinfo := Blob("orphan")
	if err := b.PutBlob(ctx, "acme", oinfo.Hash, orphan); err != nil {
		t.Fatal(err)
	}
	if err := b.PutBlob(ctx, "ghost", oinfo.Hash, orphan); err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, b, false); err == nil {
		t.Fatal("Check does not notice orphan blobs")
	}
	if b.Shared() {
		// Fresh orphans on a shared store wait for the grace period; use a
		// registry with a grace so short they qualify.
		r, err = registry.New(ctx, b, registry.Options{BlobGrace: 1})
	} else {
		r, err = registry.New(ctx, b, registry.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, b)
	if n, err := r.CollectGarbage(ctx); err != nil || n != 0 {
		t.Fatalf("second CollectGarbage = %d, %v; want nothing left to collect", n, err)
	}
	if _, err := b.Blob(ctx, "acme", info.Hash); err != nil {
		t.Fatalf("referenced blob collected: %v", err)
	}
}

func testWatch(t *testing.T, open func(t *testing.T) registry.Backend) {
	r, _ := newRegistry(t, open)
	ctx := t.Context()
	ch := r.Watch(ctx)
	tn, _, err := r.CreateTenant(ctx, "acme", registry.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	waitRevision(t, ch, tn.Revision)
	if err := r.DeleteTenant(ctx, "acme", 0); err != nil {
		t.Fatal(err)
	}
	rev, err := r.Revision(ctx)
	if err != nil || rev <= tn.Revision {
		t.Fatalf("Revision after delete = %d, %v; want above %d", rev, err, tn.Revision)
	}
	waitRevision(t, ch, rev)
}
