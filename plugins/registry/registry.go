// Package registry keeps imhook's tenants, their settings and their plugins:
// named plugins per tenant, each with a few kept versions (.wasm blobs plus
// what inspecting them found) and one active version.
//
// A Registry holds the rules (validation, activation and rollback, retention,
// garbage collection of blobs, optimistic concurrency) on top of a Backend
// that stores documents and blobs: package registry/bolt is the embedded
// default. The Registry never looks inside a blob: the caller validates a
// .wasm (format, ABI version, exports, compilation) before AddVersion and
// passes what it learned as a VersionInfo.
//
// Every change is one Backend transaction that also bumps a registry-wide
// revision; Watch reports new revisions so the host can reload the tenants
// whose Revision changed. The design, the on-disk layout and the crash safety
// argument are in docs/registry.md.
package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// AnyRevision, passed as the expected revision of an update, applies the
// update whatever the tenant's current revision is.
const AnyRevision uint64 = 0

// DefaultBlobGrace is Options.BlobGrace when it is zero.
const DefaultBlobGrace = 10 * time.Minute

// maxHistory bounds Plugin.History.
const maxHistory = MaxKeepVersions

// Options configures a Registry. The zero value is ready to use.
type Options struct {
	// BlobGrace protects fresh blobs on a shared backend: garbage collection
	// keeps unreferenced blobs younger than this, because another process may
	// be between writing a blob and committing the document that refers to
	// it. Ignored when the backend is not shared. Default DefaultBlobGrace.
	BlobGrace time.Duration
}

// Registry is the tenant and plugin registry. Create it with New. All
// methods are safe for concurrent use. Use one Registry per Backend in a
// process: blob garbage collection relies on it knowing every upload in
// flight in the process.
//
// Every method that changes a tenant takes the caller's expected revision of
// the tenant (AnyRevision to skip the check), runs as one Backend
// transaction, and returns the tenant as stored, whose Revision is the new
// expected revision.
type Registry struct {
	b     Backend
	grace time.Duration

	mu      sync.Mutex
	pending map[blobKey]int // uploads between PutBlob and their commit
}

type blobKey struct{ tenant, hash string }

// New returns a Registry on b and collects the blobs that no document
// refers to, such as those left by a process killed between writing a blob
// and committing its version.
//
// # Errors
//
// New fails when the startup garbage collection cannot read the backend.
func New(ctx context.Context, b Backend, opts Options) (*Registry, error) {
	r := &Registry{b: b, grace: opts.BlobGrace, pending: make(map[blobKey]int)}
	if r.grace == 0 {
		r.grace = DefaultBlobGrace
	}
	// A store that lost data collects nothing: its blobs may be all that is
	// left of what the operator is about to restore.
	if _, err := r.CollectGarbage(ctx); err != nil && !errors.Is(err, ErrDataLost) {
		return nil, fmt.Errorf("registry: startup garbage collection: %w", err)
	}
	return r, nil
}

// Close closes the backend.
func (r *Registry) Close() error { return r.b.Close() }

// Revision returns the registry-wide revision: the Revision of the most
// recently changed tenant, or higher after a delete.
func (r *Registry) Revision(ctx context.Context) (uint64, error) { return r.b.Revision(ctx) }

// Watch returns a channel that receives the registry-wide revision after
// changes, coalesced to the newest value. Compare tenants' Revision with what
// you loaded to see what changed. The channel closes when ctx is done or the
// registry is closed.
func (r *Registry) Watch(ctx context.Context) <-chan uint64 { return r.b.Watch(ctx) }

// Tenant returns tenant id.
func (r *Registry) Tenant(ctx context.Context, id string) (*Tenant, error) {
	if err := ValidID("tenant", id); err != nil {
		return nil, err
	}
	return r.b.Get(ctx, id)
}

// Tenants returns every tenant, sorted by ID.
func (r *Registry) Tenants(ctx context.Context) ([]*Tenant, error) { return r.b.List(ctx) }

// Blob returns the .wasm bytes of tenant's version hash.
func (r *Registry) Blob(ctx context.Context, tenant, hash string) ([]byte, error) {
	if err := ValidID("tenant", tenant); err != nil {
		return nil, err
	}
	if err := ValidHash(hash); err != nil {
		return nil, err
	}
	return r.b.Blob(ctx, tenant, hash)
}

// VerifyToken reports, in constant time, whether token is tenant id's admin
// token. It returns false for an unknown tenant or when the backend fails.
func (r *Registry) VerifyToken(ctx context.Context, id, token string) bool {
	t, err := r.Tenant(ctx, id)
	if err != nil {
		t = &Tenant{} // keep the comparison's cost
	}
	return t.VerifyToken(token) && err == nil
}

// CreateTenant creates tenant id with settings s and returns it with its
// admin token, which is not stored and cannot be read again.
//
// # Errors
//
// ErrInvalid for a bad ID or settings, ErrExists when id is taken.
func (r *Registry) CreateTenant(ctx context.Context, id string, s Settings) (*Tenant, string, error) {
	if err := ValidID("tenant", id); err != nil {
		return nil, "", err
	}
	if err := s.Validate(); err != nil {
		return nil, "", fmt.Errorf("tenant[%s]: settings: %w", id, err)
	}
	token, hash, err := newToken()
	if err != nil {
		return nil, "", err
	}
	now := time.Now().UTC()
	t, err := r.b.Update(ctx, id, func(cur *Tenant) (*Tenant, error) {
		if cur != nil {
			return nil, fmt.Errorf("tenant[%s]: %w", id, ErrExists)
		}
		return &Tenant{ID: id, TokenHash: hash, Settings: s, CreatedAt: now, UpdatedAt: now}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return t, token, nil
}

// DeleteTenant deletes tenant id, its plugins and their blobs.
func (r *Registry) DeleteTenant(ctx context.Context, id string, expect uint64) error {
	if err := ValidID("tenant", id); err != nil {
		return err
	}
	_, err := r.b.Update(ctx, id, func(cur *Tenant) (*Tenant, error) {
		if err := check(id, cur, expect); err != nil {
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		return err
	}
	r.collectQuietly(ctx, id)
	return nil
}

// SetSettings replaces tenant id's settings. Lowering KeepVersions prunes
// versions at once.
func (r *Registry) SetSettings(ctx context.Context, id string, s Settings, expect uint64) (*Tenant, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("tenant[%s]: settings: %w", id, err)
	}
	return r.update(ctx, id, expect, func(t *Tenant) error {
		t.Settings = s
		return nil
	})
}

// RotateToken gives tenant id a new admin token and returns it; the old
// token stops working. The token is not stored and cannot be read again.
func (r *Registry) RotateToken(ctx context.Context, id string, expect uint64) (*Tenant, string, error) {
	token, hash, err := newToken()
	if err != nil {
		return nil, "", err
	}
	t, err := r.update(ctx, id, expect, func(t *Tenant) error {
		t.TokenHash = hash
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return t, token, nil
}

// AddVersion stores blob as a new version of tenant's plugin, creating the
// plugin (last in execution order) if needed. The version is not active;
// see Activate. info must come from inspecting blob: the Registry checks
// that info.Hash is the sha256 of blob and info.Size its length, and trusts
// the rest. Adding a hash the plugin already has changes nothing and returns
// the existing version. Versions beyond the tenant's KeepVersions are pruned,
// oldest first, never the active one.
//
// The blob is written before the document that refers to it, so a crash in
// between leaves an unreferenced blob that garbage collection removes.
func (r *Registry) AddVersion(ctx context.Context, tenant, plugin string, blob []byte, info VersionInfo, expect uint64) (*Tenant, Version, error) {
	if err := ValidID("tenant", tenant); err != nil {
		return nil, Version{}, err
	}
	if err := ValidID("plugin", plugin); err != nil {
		return nil, Version{}, err
	}
	if err := info.validate(); err != nil {
		return nil, Version{}, fmt.Errorf("tenant[%s] plugin[%s]: %w", tenant, plugin, err)
	}
	sum := sha256.Sum256(blob)
	if got := hex.EncodeToString(sum[:]); got != info.Hash {
		return nil, Version{}, fmt.Errorf("tenant[%s] plugin[%s]: blob hashes to %s, not version[%s]: %w", tenant, plugin, got, info.Hash, ErrInvalid)
	}
	if info.Size != int64(len(blob)) {
		return nil, Version{}, fmt.Errorf("tenant[%s] plugin[%s] version[%s]: blob is %d bytes, info says %d: %w", tenant, plugin, info.Hash, len(blob), info.Size, ErrInvalid)
	}

	release := r.hold(blobKey{tenant, info.Hash})
	defer release()

	// The tenant must exist before its blob is written, or a typo in the ID
	// would leave blobs for GC. A tenant deleted right after this check is
	// harmless: the Update below fails and the blob is collected.
	if _, err := r.Tenant(ctx, tenant); err != nil {
		return nil, Version{}, err
	}
	if err := r.b.PutBlob(ctx, tenant, info.Hash, blob); err != nil {
		return nil, Version{}, fmt.Errorf("tenant[%s] plugin[%s] version[%s]: store blob: %w", tenant, plugin, info.Hash, err)
	}
	var v Version
	now := time.Now().UTC()
	t, err := r.update(ctx, tenant, expect, func(t *Tenant) error {
		p, ok := t.Plugin(plugin)
		if !ok {
			t.Plugins = append(t.Plugins, Plugin{Name: plugin})
			p = &t.Plugins[len(t.Plugins)-1]
		}
		if old, ok := p.Version(info.Hash); ok {
			v = old
			return errUnchanged
		}
		v = Version{
			Hash:       info.Hash,
			Size:       info.Size,
			UploadedAt: now,
			ABIVersion: info.ABIVersion,
			Commands:   slices.Clone(info.Commands),
		}
		p.Versions = append(p.Versions, v)
		return nil
	})
	if err != nil {
		release()
		r.collectQuietly(ctx, tenant) // the blob may now be unreferenced
		return nil, Version{}, err
	}
	return t, v, nil
}

// hold marks an upload of key as in flight, so garbage collection keeps its
// blob until the upload's commit. The returned release may be called more
// than once.
func (r *Registry) hold(key blobKey) (release func()) {
	r.mu.Lock()
	r.pending[key]++
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			if r.pending[key]--; r.pending[key] == 0 {
				delete(r.pending, key)
			}
			r.mu.Unlock()
		})
	}
}

// Activate makes version hash of tenant's plugin the active one, pushing the
// previously active version onto the plugin's history. Activating the
// active version changes nothing.
func (r *Registry) Activate(ctx context.Context, tenant, plugin, hash string, expect uint64) (*Tenant, error) {
	if err := ValidHash(hash); err != nil {
		return nil, err
	}
	return r.updatePlugin(ctx, tenant, plugin, expect, func(p *Plugin) error {
		if _, ok := p.Version(hash); !ok {
			return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: %w", tenant, plugin, hash, ErrNotFound)
		}
		if p.Active == hash {
			return errUnchanged
		}
		if p.Active != "" {
			p.History = append(p.History, p.Active)
		}
		p.Active = hash
		return nil
	})
}

// Rollback makes the plugin's previously active version active again: the
// most recent History entry that is still kept and differs from the active
// version. That entry leaves the history, so rolling back again goes one
// step further back.
//
// # Errors
//
// ErrNotFound when the plugin has no earlier active version left.
func (r *Registry) Rollback(ctx context.Context, tenant, plugin string, expect uint64) (*Tenant, error) {
	return r.updatePlugin(ctx, tenant, plugin, expect, func(p *Plugin) error {
		for len(p.History) > 0 {
			h := p.History[len(p.History)-1]
			p.History = p.History[:len(p.History)-1]
			if _, ok := p.Version(h); ok && h != p.Active {
				p.Active = h
				return nil
			}
		}
		return fmt.Errorf("tenant[%s] plugin[%s]: no earlier active version to roll back to: %w", tenant, plugin, ErrNotFound)
	})
}

// DeleteVersion deletes version hash of tenant's plugin and its blob.
//
// # Errors
//
// ErrActive when hash is the active version.
func (r *Registry) DeleteVersion(ctx context.Context, tenant, plugin, hash string, expect uint64) (*Tenant, error) {
	if err := ValidHash(hash); err != nil {
		return nil, err
	}
	t, err := r.updatePlugin(ctx, tenant, plugin, expect, func(p *Plugin) error {
		if p.Active == hash {
			return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: %w; activate another version or delete the plugin", tenant, plugin, hash, ErrActive)
		}
		i := slices.IndexFunc(p.Versions, func(v Version) bool { return v.Hash == hash })
		if i < 0 {
			return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: %w", tenant, plugin, hash, ErrNotFound)
		}
		p.Versions = slices.Delete(p.Versions, i, i+1)
		return nil
	})
	if err == nil {
		r.collectQuietly(ctx, tenant)
	}
	return t, err
}

// DeletePlugin deletes tenant's plugin, active version included, and the
// blobs only it used.
func (r *Registry) DeletePlugin(ctx context.Context, tenant, plugin string, expect uint64) (*Tenant, error) {
	if err := ValidID("plugin", plugin); err != nil {
		return nil, err
	}
	t, err := r.update(ctx, tenant, expect, func(t *Tenant) error {
		i := slices.IndexFunc(t.Plugins, func(p Plugin) bool { return p.Name == plugin })
		if i < 0 {
			return fmt.Errorf("tenant[%s] plugin[%s]: %w", tenant, plugin, ErrNotFound)
		}
		t.Plugins = slices.Delete(t.Plugins, i, i+1)
		return nil
	})
	if err == nil {
		r.collectQuietly(ctx, tenant)
	}
	return t, err
}

// Reorder sets the execution order of tenant's plugins. order must name
// every plugin exactly once.
func (r *Registry) Reorder(ctx context.Context, tenant string, order []string, expect uint64) (*Tenant, error) {
	return r.update(ctx, tenant, expect, func(t *Tenant) error {
		var have []string
		for _, p := range t.Plugins {
			have = append(have, p.Name)
		}
		want := slices.Clone(order)
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			return fmt.Errorf("tenant[%s]: order [%s] must name each plugin once: [%s]: %w",
				tenant, strings.Join(order, ","), strings.Join(have, ","), ErrInvalid)
		}
		next := make([]Plugin, 0, len(order))
		for _, name := range order {
			p, _ := t.Plugin(name)
			next = append(next, *p)
		}
		if slices.EqualFunc(next, t.Plugins, func(a, b Plugin) bool { return a.Name == b.Name }) {
			return errUnchanged
		}
		t.Plugins = next
		return nil
	})
}

// errUnchanged aborts an update that would change nothing, so it neither
// bumps the revision nor wakes watchers.
var errUnchanged = errors.New("unchanged")

// update runs fn on tenant id in one backend transaction after checking the
// expected revision, applies retention, and collects blobs pruned by it.
func (r *Registry) update(ctx context.Context, id string, expect uint64, fn func(t *Tenant) error) (*Tenant, error) {
	if err := ValidID("tenant", id); err != nil {
		return nil, err
	}
	var same *Tenant
	pruned := false
	now := time.Now().UTC()
	t, err := r.b.Update(ctx, id, func(cur *Tenant) (*Tenant, error) {
		if err := check(id, cur, expect); err != nil {
			return nil, err
		}
		same = cur
		if err := fn(cur); err != nil {
			return nil, err
		}
		pruned = retain(cur)
		cur.UpdatedAt = now
		return cur, nil
	})
	if errors.Is(err, errUnchanged) {
		return same, nil
	}
	if err != nil {
		return nil, err
	}
	if pruned {
		r.collectQuietly(ctx, id)
	}
	return t, nil
}

// updatePlugin is update for a change to one existing plugin.
func (r *Registry) updatePlugin(ctx context.Context, tenant, plugin string, expect uint64, fn func(p *Plugin) error) (*Tenant, error) {
	if err := ValidID("plugin", plugin); err != nil {
		return nil, err
	}
	return r.update(ctx, tenant, expect, func(t *Tenant) error {
		p, ok := t.Plugin(plugin)
		if !ok {
			return fmt.Errorf("tenant[%s] plugin[%s]: %w", tenant, plugin, ErrNotFound)
		}
		return fn(p)
	})
}

// check refuses to change a missing tenant or one at another revision.
func check(id string, cur *Tenant, expect uint64) error {
	if cur == nil {
		return fmt.Errorf("tenant[%s]: %w", id, ErrNotFound)
	}
	if expect != AnyRevision && cur.Revision != expect {
		return fmt.Errorf("tenant[%s]: revision is %d, caller expected %d: %w", id, cur.Revision, expect, ErrConflict)
	}
	return nil
}

// retain applies the retention rules to every plugin of t: at most
// Settings.Keep() versions, dropping the oldest but never the active one nor
// the newest (so a plugin may hold Keep()+1 versions until the newest is
// activated), and a history that names only kept versions. It reports whether any
// version was dropped.
func retain(t *Tenant) bool {
	keep := t.Settings.Keep()
	pruned := false
	for i := range t.Plugins {
		p := &t.Plugins[i]
		for len(p.Versions) > keep {
			// The newest version is spared too: it was just uploaded and
			// waits to be activated.
			j := slices.IndexFunc(p.Versions[:len(p.Versions)-1], func(v Version) bool { return v.Hash != p.Active })
			if j < 0 {
				break
			}
			p.Versions = slices.Delete(p.Versions, j, j+1)
			pruned = true
		}
		p.History = slices.DeleteFunc(p.History, func(h string) bool {
			_, ok := p.Version(h)
			return !ok
		})
		if n := len(p.History); n > maxHistory {
			p.History = slices.Delete(p.History, 0, n-maxHistory)
		}
	}
	return pruned
}

// newToken returns a random admin token and its sha256 hex.
func newToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("registry: generate token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:]), nil
}
