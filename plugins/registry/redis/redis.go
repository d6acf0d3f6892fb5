// Package redis is the shared registry backend: tenant documents, plugin
// blobs and the revision counter in Redis (standalone, sentinel or cluster),
// so several imhook replicas serve the same tenants and see each other's
// changes within about a second. It connects through package redisdb, like
// every store in Redis, and adds the registry's keys, transactions and
// change feed.
//
//	b, err := redis.Open(ctx, redisdb.Config{Address: "10.0.0.5:6379"}, redis.Options{SeenFile: "/var/lib/imhook/registry-seen.json"})
//	if err != nil { ... } // "redis at 10.0.0.5:6379 unreachable: ...; check store.redis.address"
//	reg, err := registry.New(ctx, b, registry.Options{})
//
// # Key layout
//
// With the default prefix "imhook", all metadata shares the hash tag
// {imhook}, so one optimistic transaction (WATCH/MULTI/EXEC) can change a
// tenant document and the revision counter together, also on Redis Cluster:
//
//	{imhook}:format          "1"
//	{imhook}:rev             the registry-wide revision
//	{imhook}:tenants         set of tenant IDs
//	{imhook}:t:<id>          tenant document, JSON
//	{imhook}:blobowners      set of tenant IDs that have blobs (kept in step by PutBlob and DeleteBlob)
//	{imhook}:epoch           the data-loss guard's (redisdb.Guard): bumped when an operator accepts lost data
//	{imhook}:lost            the guard's marker: JSON registry.Loss while the store is known to have lost data
//	{imhook}:replicas        set of replica IDs that announced their serving state
//	{imhook}:replica:<id>    a replica's serving state (Announce), with a TTL
//
// Blobs live in one slot per tenant, spreading their bytes over a cluster:
//
//	{imhook:b:<id>}:<sha256> the .wasm bytes
//	{imhook:b:<id>}:index    hash sha256 -> "<size> <written-at unix ns>"
//
// Commits are announced on the pub/sub channel "imhook:changes" with the new
// revision. Pub/sub drops messages during a reconnect, so the guard also
// reads the counter every redisdb.Config.PollInterval; see Watch.
//
// # Lost data
//
// The revision counter never goes back, so a counter below one seen before
// means Redis lost data (restarted without persistence, flushed, failed over
// to a stale replica). The Redis's one data-loss guard (redisdb.Guard,
// shared with the plugin state and the queue) polls the counter, writes the
// {imhook}:lost marker when it notices, and keeps the newest revision seen
// in GuardOptions.SeenFile, so a replica that restarts against the emptied
// Redis knows too. From then on every replica's registry refuses reads and
// writes with registry.ErrDataLost (its loaded state keeps serving
// callbacks), until an operator calls AcceptLoss. Writes check the marker
// and the epoch inside their transaction (Guard.CheckTx).
//
// docs/deploy.md gives the Redis settings this relies on (persistence on,
// maxmemory-policy noeviction) and the memory to plan for.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/internal/feed"
	"github.com/imhook/imhook/plugins/store/redisdb"
)

// Format is the store-format version this package reads and writes. Open
// refuses a Redis whose registry was written in another format.
const Format = "1"

// maxAttempts bounds the optimistic retries of one Update. Each conflict
// means another commit succeeded, so running out takes sustained contention.
const maxAttempts = 64

// keys names every key and the channel for one prefix.
type keys struct {
	prefix string
	meta   string // "{prefix}": the hash tag shared by all metadata
}

func newKeys(prefix string) keys { return keys{prefix: prefix, meta: "{" + prefix + "}"} }

func (k keys) format() string       { return k.meta + ":format" }
func (k keys) rev() string          { return redisdb.RevKey(k.prefix) }
func (k keys) tenants() string      { return k.meta + ":tenants" }
func (k keys) doc(id string) string { return k.meta + ":t:" + id }
func (k keys) owners() string       { return k.meta + ":blobowners" }
func (k keys) channel() string      { return k.prefix + ":changes" }
func (k keys) replicas() string     { return k.meta + ":replicas" }
func (k keys) replica(id string) string {
	return k.meta + ":replica:" + id
}

// blobTag is the hash tag of tenant's blobs.
func (k keys) blobTag(tenant string) string    { return "{" + k.prefix + ":b:" + tenant + "}" }
func (k keys) blob(tenant, hash string) string { return k.blobTag(tenant) + ":" + hash }
func (k keys) index(tenant string) string      { return k.blobTag(tenant) + ":index" }

// Backend is a registry.Backend on Redis. It is safe for concurrent use, and
// several processes may open the same Redis at once (Shared reports true).
type Backend struct {
	db    *redisdb.Shared
	owns  bool // Close closes db (Open); false when the host shares it (New)
	c     goredis.UniversalClient
	g     *redisdb.Guard
	cfg   redisdb.Config // with defaults applied
	where string         // cfg.Where(), for messages
	k     keys
	feed  feed.Feed

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Options are the settings of Open beyond the shared Redis configuration:
// those of the data-loss guard it opens.
type Options = redisdb.GuardOptions

var _ registry.Backend = (*Backend)(nil)

// Open connects to Redis with redisdb.OpenShared (its own client and
// data-loss guard) and returns New's Backend on it; Close closes both. A
// server whose other stores share the Redis opens it once and calls New.
//
// # Errors
//
// Open fails as redisdb.OpenShared does (an invalid cfg; "redis at
// 127.0.0.1:6379 unreachable: ...; check store.redis.address and that Redis
// is running"; refused credentials; an allkeys-* maxmemory-policy; an
// unreadable seen file), or as New does.
func Open(ctx context.Context, cfg redisdb.Config, opt Options) (*Backend, error) {
	db, err := redisdb.OpenShared(ctx, cfg, opt)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	b, err := New(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	b.owns = true
	return b, nil
}

// New returns the registry on db: it checks the store format (creating it
// in an empty Redis), and follows other processes' commits through the
// change channel and db's guard. It returns once Redis has answered. Close
// leaves db open.
//
// A store found to have lost data is not an error: New returns a Backend
// whose reads and writes are refused (registry.ErrDataLost) until an
// operator accepts the loss (db.Guard.AcceptLoss).
func New(ctx context.Context, db *redisdb.Shared) (*Backend, error) {
	cfg := db.Config
	b := &Backend{db: db, c: db.Client, g: db.Guard, cfg: cfg, where: cfg.Where(), k: newKeys(cfg.KeyPrefix)}
	if err := b.init(ctx); err != nil {
		return nil, err
	}
	b.g.Follow(redisdb.Follower{
		Revision: b.feed.Publish,
		Accepted: b.feed.Restart,
		Count:    func(ctx context.Context) (int64, error) { return b.c.SCard(ctx, b.k.tenants()).Result() },
	})
	fctx, stop := context.WithCancel(context.Background())
	b.stop = stop
	b.wg.Add(1)
	go b.subscribe(fctx)
	return b, nil
}

// init checks that Redis holds a registry of our format or none.
func (b *Backend) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.DialTimeout+time.Second)
	defer cancel()
	if err := b.c.SetNX(ctx, b.k.format(), Format, 0).Err(); err != nil {
		return fmt.Errorf("%s: write the store format: %w", b.where, err)
	}
	f, err := b.c.Get(ctx, b.k.format()).Result()
	if err != nil {
		return fmt.Errorf("%s: read the store format: %w", b.where, err)
	}
	if f != Format {
		return fmt.Errorf("%s: registry under key prefix %q is store format %q, this imhook reads format %q", b.where, b.cfg.KeyPrefix, f, Format)
	}
	return nil
}

// Close implements registry.Backend.Close: it stops following changes and
// closes every Watch channel, and the connections when Open opened them.
func (b *Backend) Close() error {
	b.stop()
	b.wg.Wait()
	b.feed.Close()
	if b.owns {
		return b.db.Close()
	}
	return nil
}

// Shared implements registry.Backend.Shared: true, other replicas write the
// same Redis.
func (b *Backend) Shared() bool { return true }

// Revision implements registry.Backend.Revision.
func (b *Backend) Revision(ctx context.Context) (uint64, error) {
	if err := b.refuseLost(); err != nil {
		return 0, err
	}
	rev, err := b.readRevision(ctx)
	if err != nil {
		return 0, b.fail("read the revision", err)
	}
	return rev, nil
}

// readRevision reads the counter; a missing key is revision 0.
func (b *Backend) readRevision(ctx context.Context) (uint64, error) {
	v, err := b.c.Get(ctx, b.k.rev()).Uint64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	return v, err
}

// Get implements registry.Backend.Get.
func (b *Backend) Get(ctx context.Context, id string) (*registry.Tenant, error) {
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	data, err := b.c.Get(ctx, b.k.doc(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("tenant[%s]: %w", id, registry.ErrNotFound)
	}
	if err != nil {
		return nil, b.fail("tenant["+id+"]: read document", err)
	}
	return decode(id, data)
}

// List implements registry.Backend.List. The ID set and the documents are
// in one slot, so one MGET reads them all.
//
// While the store is in the lost-data state, it and every other read and
// write fail with registry.ErrDataLost: what Redis holds then is not the
// registry the replicas serve.
func (b *Backend) List(ctx context.Context) ([]*registry.Tenant, error) {
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	ids, err := b.c.SMembers(ctx, b.k.tenants()).Result()
	if err != nil {
		return nil, b.fail("list tenants", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	docKeys := make([]string, len(ids))
	for i, id := range ids {
		docKeys[i] = b.k.doc(id)
	}
	vals, err := b.c.MGet(ctx, docKeys...).Result()
	if err != nil {
		return nil, b.fail("read tenant documents", err)
	}
	out := make([]*registry.Tenant, 0, len(ids))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // deleted between SMEMBERS and MGET
		}
		t, err := decode(ids[i], []byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Update implements registry.Backend.Update with an optimistic transaction:
// WATCH the document and the counter, read, run fn, then MULTI/EXEC the new
// document, the ID set and the counter. When another process commits in
// between, EXEC fails and Update runs again from the read, so fn may run
// more than once. After EXEC the revision is published on the change
// channel.
func (b *Backend) Update(ctx context.Context, id string, fn func(cur *registry.Tenant) (*registry.Tenant, error)) (*registry.Tenant, error) {
	docKey, revKey := b.k.doc(id), b.k.rev()
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var (
			out   *registry.Tenant
			rev   uint64
			fnErr error
		)
		err := b.c.Watch(ctx, func(tx *goredis.Tx) error {
			// The marker and the epoch are watched: a loss found by another
			// replica between here and EXEC fails this transaction.
			if fnErr = b.g.CheckTx(ctx, tx); fnErr != nil {
				return fnErr
			}
			var cur *registry.Tenant
			data, err := tx.Get(ctx, docKey).Bytes()
			switch {
			case errors.Is(err, goredis.Nil):
			case err != nil:
				return err
			default:
				if cur, err = decode(id, data); err != nil {
					fnErr = err
					return err
				}
			}
			next, err := fn(cur)
			if err != nil {
				fnErr = err
				return err
			}
			if next == nil && cur == nil {
				return nil // nothing to delete
			}
			if next != nil && next.ID != id {
				fnErr = fmt.Errorf("tenant[%s]: update returned a document for tenant[%s]: %w", id, next.ID, registry.ErrInvalid)
				return fnErr
			}
			last, err := tx.Get(ctx, revKey).Uint64()
			if err != nil && !errors.Is(err, goredis.Nil) {
				return err
			}
			rev = last + 1
			if next != nil {
				next.Revision = rev
				if data, err = json.Marshal(next); err != nil {
					fnErr = fmt.Errorf("tenant[%s]: encode document: %w", id, err)
					return fnErr
				}
				// Hand back a copy that shares nothing with fn's arguments.
				if out, err = decode(id, data); err != nil {
					fnErr = err
					return err
				}
			}
			_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
				if next == nil {
					p.Del(ctx, docKey)
					p.SRem(ctx, b.k.tenants(), id)
				} else {
					p.Set(ctx, docKey, data, 0)
					p.SAdd(ctx, b.k.tenants(), id)
				}
				p.Set(ctx, revKey, rev, 0)
				return nil
			})
			return err
		}, append([]string{docKey}, b.g.WatchKeys()...)...)
		switch {
		case fnErr != nil:
			return nil, fnErr
		case errors.Is(err, goredis.TxFailedErr):
			if attempt == maxAttempts {
				return nil, fmt.Errorf("tenant[%s]: update conflicted with other writers %d times in a row; retry later", id, attempt)
			}
			// Jitter spreads writers that collided, so one of them wins next.
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(attempt)*int64(time.Millisecond)))); err != nil {
				return nil, err
			}
			continue
		case err != nil:
			return nil, b.fail("tenant["+id+"]: update", err)
		}
		if rev != 0 {
			// A lost message is caught by the other replicas' polls.
			_ = b.c.Publish(ctx, b.k.channel(), rev).Err()
			b.g.Observe(rev)
		}
		return out, nil
	}
}

// PutBlob implements registry.Backend.PutBlob. It records tenant as a blob
// owner before and after writing the bytes and the index entry in one
// transaction (one slot); with DeleteBlob's order this guarantees that a
// tenant holding a blob is always listed by BlobTenants.
//
// The blob is durable when Redis acknowledges it as far as Redis's own
// persistence setting allows (appendfsync; see docs/deploy.md).
func (b *Backend) PutBlob(ctx context.Context, tenant, hash string, data []byte) error {
	if err := b.refuseLost(); err != nil {
		return err
	}
	if err := b.c.SAdd(ctx, b.k.owners(), tenant).Err(); err != nil {
		return b.fail("tenant["+tenant+"] blob["+hash+"]: record owner", err)
	}
	entry := strconv.Itoa(len(data)) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
	_, err := b.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, b.k.blob(tenant, hash), data, 0)
		p.HSet(ctx, b.k.index(tenant), hash, entry)
		return nil
	})
	if err != nil {
		return b.fail("tenant["+tenant+"] blob["+hash+"]: write", err)
	}
	if err := b.c.SAdd(ctx, b.k.owners(), tenant).Err(); err != nil {
		return b.fail("tenant["+tenant+"] blob["+hash+"]: record owner", err)
	}
	return nil
}

// Blob implements registry.Backend.Blob.
func (b *Backend) Blob(ctx context.Context, tenant, hash string) ([]byte, error) {
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	data, err := b.c.Get(ctx, b.k.blob(tenant, hash)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("tenant[%s] blob[%s]: %w", tenant, hash, registry.ErrNotFound)
	}
	if err != nil {
		return nil, b.fail("tenant["+tenant+"] blob["+hash+"]: read", err)
	}
	return data, nil
}

// DeleteBlob implements registry.Backend.DeleteBlob. When the tenant's
// last blob is gone it drops the tenant from the owner set, then checks the
// index again and puts it back if a PutBlob raced in.
func (b *Backend) DeleteBlob(ctx context.Context, tenant, hash string) error {
	if err := b.refuseLost(); err != nil {
		return err
	}
	what := "tenant[" + tenant + "] blob[" + hash + "]: delete"
	var left *goredis.IntCmd
	_, err := b.c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Del(ctx, b.k.blob(tenant, hash))
		p.HDel(ctx, b.k.index(tenant), hash)
		left = p.HLen(ctx, b.k.index(tenant))
		return nil
	})
	if err != nil {
		return b.fail(what, err)
	}
	if left.Val() > 0 {
		return nil
	}
	if err := b.c.SRem(ctx, b.k.owners(), tenant).Err(); err != nil {
		return b.fail(what, err)
	}
	n, err := b.c.HLen(ctx, b.k.index(tenant)).Result()
	if err != nil {
		return b.fail(what, err)
	}
	if n > 0 {
		if err := b.c.SAdd(ctx, b.k.owners(), tenant).Err(); err != nil {
			return b.fail(what, err)
		}
	}
	return nil
}

// Blobs implements registry.Backend.Blobs.
func (b *Backend) Blobs(ctx context.Context, tenant string) ([]registry.BlobInfo, error) {
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	idx, err := b.c.HGetAll(ctx, b.k.index(tenant)).Result()
	if err != nil {
		return nil, b.fail("tenant["+tenant+"]: list blobs", err)
	}
	out := make([]registry.BlobInfo, 0, len(idx))
	for hash, entry := range idx {
		size, at, ok := strings.Cut(entry, " ")
		n, err1 := strconv.ParseInt(size, 10, 64)
		ns, err2 := strconv.ParseInt(at, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("tenant[%s] blob[%s]: index entry %q is not \"<size> <unix ns>\"", tenant, hash, entry)
		}
		out = append(out, registry.BlobInfo{Hash: hash, Size: n, WrittenAt: time.Unix(0, ns)})
	}
	slices.SortFunc(out, func(x, y registry.BlobInfo) int { return strings.Compare(x.Hash, y.Hash) })
	return out, nil
}

// BlobTenants implements registry.Backend.BlobTenants. Owners whose index
// is empty (a PutBlob that died before writing) are left out.
func (b *Backend) BlobTenants(ctx context.Context) ([]string, error) {
	if err := b.refuseLost(); err != nil {
		return nil, err
	}
	ids, err := b.c.SMembers(ctx, b.k.owners()).Result()
	if err != nil {
		return nil, b.fail("list blob owners", err)
	}
	slices.Sort(ids)
	lens := make([]*goredis.IntCmd, len(ids))
	_, err = b.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			lens[i] = p.HLen(ctx, b.k.index(id))
		}
		return nil
	})
	if err != nil {
		return nil, b.fail("list blob owners", err)
	}
	out := ids[:0]
	for i, id := range ids {
		if lens[i].Val() > 0 {
			out = append(out, id)
		}
	}
	return out, nil
}

// fail wraps a Redis error with what was being done and where.
func (b *Backend) fail(what string, err error) error {
	return fmt.Errorf("%s: %s: %w (%w)", what, b.where, err, registry.ErrUnavailable)
}

func decode(id string, v []byte) (*registry.Tenant, error) {
	t := new(registry.Tenant)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, fmt.Errorf("tenant[%s]: decode document: %w", id, err)
	}
	return t, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultReplicaID is the host name and process ID.
func DefaultReplicaID() string { return redisdb.DefaultReplicaID() }
