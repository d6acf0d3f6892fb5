package redisdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strconv"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/plugins/store/health"
)

// Guard is the data-loss guard of one Redis: every store on it (the
// registry, the plugin state, the queue) asks the same Guard before it
// writes, so that a Redis that lost its data (restarted without
// persistence, flushed, failed over to a stale replica) is never written to
// as if it were empty by design.
//
// # How a loss is found
//
// The registry's revision counter {P}:rev never goes back, so a counter
// below one seen before means Redis lost data. Every store's data hangs off
// a tenant, and every tenant change raises the counter, so the counter
// going back is the loss of every store's data, not only the registry's.
// The replica that notices writes the marker {P}:lost; from then on every
// replica refuses writes (Refuse) until an operator calls AcceptLoss, which
// bumps the epoch {P}:epoch. Each replica keeps the newest revision and
// epoch it saw in GuardOptions.SeenFile, so one that restarts against the
// emptied Redis (even after the marker was lost again) knows too. Nothing
// but AcceptLoss ends the state: not writes, not restarts.
//
// The guard polls the three keys every Config.PollInterval: a loss is
// noticed within about that interval. The registry's writes check the
// marker and the epoch inside their transaction (CheckTx); the state's and
// the queue's writes, whose keys live in each tenant's own cluster slot,
// check the guard's last poll (Refuse), so writes in the interval between
// Redis losing its data and the first poll after it land in the emptied
// Redis (docs/deploy.md says so).
type Guard struct {
	c     goredis.UniversalClient
	cfg   Config
	where string
	opt   GuardOptions
	id    string
	log   *slog.Logger

	keyRev, keyEpoch, keyLost string

	stop context.CancelFunc
	wg   sync.WaitGroup

	persisted seenFile // what the seen file holds; poll goroutine only

	mu        sync.Mutex
	followers []Follower
	seen      uint64       // newest revision seen; kept in the seen file
	epoch     uint64       // the store's epoch this process follows
	storeRev  uint64       // the counter at the last successful poll
	lastRead  time.Time    // when Redis last answered a poll
	okSince   time.Time    // when the state last became ok
	downSince time.Time    // zero while Redis answers
	downErr   error        // why Redis is considered unavailable
	lost      *health.Loss // set from the loss until an operator accepts it
	lostSince time.Time
	inStore   *int64            // a follower's count while lost (Follower.Count)
	refused   map[string]uint64 // writes refused while lost, by store
}

// GuardOptions are a Guard's settings beyond the shared Redis configuration.
type GuardOptions struct {
	// SeenFile keeps the newest revision this process saw across restarts
	// (a few bytes, rewritten when it changes), so a replica restarting
	// against a Redis that lost data notices. Empty keeps nothing (tests).
	SeenFile string
	// ReplicaID names this process in lost-data markers and logs; default
	// DefaultReplicaID.
	ReplicaID string
	// Logger receives the store's transitions (unreachable, reachable again,
	// lost data, loss accepted); nil discards.
	Logger *slog.Logger
}

// Follower is told what the guard learns of the revision counter: the
// registry turns it into its change feed.
type Follower struct {
	// Revision is called with a revision newer than any seen before (never
	// while the store is in the lost-data state).
	Revision func(rev uint64)
	// Accepted is called when an operator accepted a loss: rev, whatever its
	// value, is the truth now and everything must be read again.
	Accepted func(rev uint64)
	// Count, when set, is polled while the store is lost; its result is
	// shown as Status.Tenants (what Redis still holds, for the operator).
	Count func(ctx context.Context) (int64, error)
}

// RevKey is the revision counter of prefix: the registry raises it with
// every change, the guard watches it.
func RevKey(prefix string) string { return "{" + prefix + "}:rev" }

// newGuard checks the store once (so a replica starting against a store
// that lost data knows before it serves) and starts the poll.
func newGuard(ctx context.Context, c goredis.UniversalClient, cfg Config, opt GuardOptions) (*Guard, error) {
	seen, err := readSeen(opt.SeenFile)
	if err != nil {
		return nil, err
	}
	meta := "{" + cfg.KeyPrefix + "}"
	g := &Guard{c: c, cfg: cfg, where: cfg.Where(), opt: opt, id: opt.ReplicaID, log: opt.Logger,
		keyRev: RevKey(cfg.KeyPrefix), keyEpoch: meta + ":epoch", keyLost: meta + ":lost",
		refused: map[string]uint64{}}
	if g.id == "" {
		g.id = DefaultReplicaID()
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.epoch, g.seen, g.persisted = seen.Epoch, seen.Revision, seen
	g.okSince = time.Now()
	g.check(ctx)
	if err := g.Health(); err != nil && !errors.Is(err, health.ErrDataLost) {
		return nil, err
	}
	g.persist()
	pctx, stop := context.WithCancel(context.Background())
	g.stop = stop
	g.wg.Add(1)
	go g.poll(pctx)
	return g, nil
}

// close stops the poll and records what was seen.
func (g *Guard) close() {
	g.stop()
	g.wg.Wait()
	g.persist()
}

// Follow registers f. The registry calls it once, when it opens.
func (g *Guard) Follow(f Follower) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.followers = append(g.followers, f)
}

// Seen returns the newest revision this process has seen.
func (g *Guard) Seen() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}

// Observe records a revision committed (by this process, or announced by
// another), telling the followers when it is news. Nothing is news while
// the store is in the lost-data state.
func (g *Guard) Observe(rev uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rev > g.seen && g.lost == nil {
		g.seen = rev
		g.publishLocked(rev)
	}
}

func (g *Guard) publishLocked(rev uint64) {
	for _, f := range g.followers {
		if f.Revision != nil {
			f.Revision(rev)
		}
	}
}

// Err returns the lost-data error (wrapping health.ErrDataLost) while the
// store is in that state, else nil. It never waits on Redis.
func (g *Guard) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost == nil {
		return nil
	}
	return g.lostErrLocked()
}

// Refuse is Err for a store about to write: every store calls it before a
// write and refuses the write with its error. store ("registry", "state",
// "queue") counts the refusal in Status.Refused.
func (g *Guard) Refuse(store string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost == nil {
		return nil
	}
	g.refused[store]++
	return g.lostErrLocked()
}

// Health returns nil while Redis answers and holds everything seen before,
// and otherwise an error saying since when and why not ("redis at
// 127.0.0.1:6379 since 12:00:01Z: unreachable: ..."), wrapping
// health.ErrDataLost after a loss. It is updated by the poll, so it changes
// within about PollInterval plus DialTimeout. It never waits on Redis.
func (g *Guard) Health() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost != nil {
		return g.lostErrLocked()
	}
	if g.downErr == nil {
		return nil
	}
	return fmt.Errorf("%s since %s: %w", g.where, g.downSince.UTC().Format(time.RFC3339), g.downErr)
}

// Status returns the store's health as of the last poll.
func (g *Guard) Status() health.Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := health.Status{State: health.OK, Since: g.okSince, Revision: g.storeRev,
		Seen: g.seen, Epoch: g.epoch, LastRead: g.lastRead}
	if len(g.refused) > 0 {
		s.Refused = maps.Clone(g.refused)
	}
	switch {
	case g.lost != nil:
		l := *g.lost
		s.State, s.Since, s.Lost = health.Lost, g.lostSince, &l
		if g.inStore != nil {
			n := *g.inStore
			s.Tenants = &n
		}
		s.Reason = g.lostErrLocked().Error()
	case g.downErr != nil:
		s.State, s.Since = health.Unreachable, g.downSince
		s.Reason = fmt.Sprintf("%s: %v; callbacks are served from the last loaded state, admin changes are refused until it answers", g.where, g.downErr)
	}
	return s
}

// lostErrLocked is the error of every write refused in the lost-data state;
// it says what to do. The caller holds g.mu and g.lost is set.
func (g *Guard) lostErrLocked() error {
	l := g.lost
	return fmt.Errorf("%s went back to revision %d, below the %d seen before (found %s by replica %s): Redis lost data; "+
		"every replica keeps serving callbacks from what it loaded, and changes to tenants, plugin state and the after-callback queue are refused. "+
		"Restore Redis from its backup (or decide to start over), check `imhook store status`, "+
		"then end this with `imhook store accept --revision <its revision>` (docs/deploy.md): %w",
		g.where, l.Found, l.Seen, l.DetectedAt.UTC().Format(time.RFC3339), l.DetectedBy, health.ErrDataLost)
}

// WatchKeys are the keys a write transaction that checks the guard with
// CheckTx must WATCH: the counter, the epoch and the marker.
func (g *Guard) WatchKeys() []string { return []string{g.keyRev, g.keyEpoch, g.keyLost} }

// CheckTx refuses a write to a store that lost data, inside the caller's
// transaction (which WATCHes WatchKeys): a marker is there, its epoch is
// older than ours, or its counter is below what we saw (a loss the poll has
// not noticed yet; it is recorded here and the poll writes the marker).
func (g *Guard) CheckTx(ctx context.Context, tx *goredis.Tx) error {
	// Compare with what was seen before the read: the counter never goes
	// back, but other commits may raise g.seen while we read.
	g.mu.Lock()
	seenBefore, epochBefore := g.seen, g.epoch
	g.mu.Unlock()
	vals, err := tx.MGet(ctx, g.keyRev, g.keyEpoch, g.keyLost).Result()
	if err != nil {
		return fmt.Errorf("check the store before writing: %s: %w (%w)", g.where, err, health.ErrUnavailable)
	}
	rev, err1 := uintVal(vals[0])
	epoch, err2 := uintVal(vals[1])
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("check the store before writing: %s: %w (%w)", g.where, err, health.ErrUnavailable)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lost == nil {
		switch {
		case vals[2] != nil:
			var l health.Loss
			if s, ok := vals[2].(string); !ok || json.Unmarshal([]byte(s), &l) != nil {
				l.DetectedBy = "unknown"
			}
			g.lost, g.lostSince = &l, time.Now()
		case epoch < epochBefore || (epoch == epochBefore && rev < seenBefore):
			g.lost = &health.Loss{Seen: seenBefore, Found: rev, DetectedAt: time.Now(), DetectedBy: g.id}
			g.lostSince = g.lost.DetectedAt
			g.log.Error("store lost data (found by a write): serving what is loaded, refusing changes until an operator acts",
				"store", g.where, "seen", seenBefore, "found", rev)
		default:
			return nil
		}
	}
	g.refused["registry"]++
	return g.lostErrLocked()
}

// setDown records that a poll failed, logging the first failure.
func (g *Guard) setDown(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.downErr == nil {
		g.downSince = time.Now()
		g.log.Error("store unreachable: callbacks are served from the last loaded state, admin changes are refused",
			"store", g.where, "err", err)
	}
	g.downErr = err // keep the first failure's time, show the latest cause
}

// setUpLocked records a successful poll, logging the end of an outage.
func (g *Guard) setUpLocked(now time.Time) {
	if g.downErr != nil {
		g.log.Info("store reachable again", "store", g.where, "down_for", now.Sub(g.downSince).Round(time.Millisecond).String(),
			"revision", g.storeRev)
		g.downErr, g.downSince = nil, time.Time{}
		g.okSince = now
	}
	g.lastRead = now
}

// poll checks the store every PollInterval until ctx ends and keeps the
// seen file up to date.
func (g *Guard) poll(ctx context.Context) {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.check(ctx)
		if ctx.Err() != nil {
			return
		}
		g.persist()
	}
}

// pollTimeout bounds one poll.
func (g *Guard) pollTimeout() time.Duration {
	return max(4*g.cfg.PollInterval, g.cfg.DialTimeout, time.Second)
}

// check reads the revision counter, the epoch and the lost-data marker in
// one round trip (one slot) and moves the state machine:
//
//   - an epoch newer than ours: an operator accepted a loss; adopt the
//     store's revision as the truth and tell the followers;
//   - a marker: some replica found the store went back; refuse until an
//     operator accepts;
//   - a counter below what we saw, or an older epoch: we found it; write the
//     marker so every replica (and every replica that starts later, even one
//     with an empty data directory) refuses too;
//   - otherwise: tell the followers of the counter if it is news.
func (g *Guard) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, g.pollTimeout())
	defer cancel()
	// What was seen before the read: Observe may raise g.seen meanwhile,
	// and only a counter below a value seen earlier is a loss.
	g.mu.Lock()
	seenBefore, epochBefore := g.seen, g.epoch
	g.mu.Unlock()
	vals, err := g.c.MGet(pctx, g.keyRev, g.keyEpoch, g.keyLost).Result()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		g.setDown(fmt.Errorf("unreachable: %w", err))
		return
	}
	rev, err1 := uintVal(vals[0])
	epoch, err2 := uintVal(vals[1])
	if err := errors.Join(err1, err2); err != nil {
		g.setDown(fmt.Errorf("unreadable counters: %w", err))
		return
	}
	var marker *health.Loss
	if s, ok := vals[2].(string); ok {
		marker = new(health.Loss)
		if json.Unmarshal([]byte(s), marker) != nil {
			marker = &health.Loss{DetectedBy: "unknown (unreadable marker " + g.keyLost + ")"}
		}
	}
	now := time.Now()
	var write *health.Loss // a marker to put (back) into Redis
	g.mu.Lock()
	g.storeRev = rev
	g.setUpLocked(now)
	if epoch > g.epoch {
		if g.lost != nil || g.epoch != 0 || g.seen != 0 {
			g.log.Warn("store: an operator accepted the lost data; the registry as Redis now holds it is the truth, reloading",
				"store", g.where, "revision", rev, "epoch", epoch)
		}
		g.epoch, g.seen, g.lost, g.inStore = epoch, rev, nil, nil
		g.okSince = now
		for _, f := range g.followers {
			if f.Accepted != nil {
				f.Accepted(rev)
			}
		}
	}
	switch {
	case marker != nil:
		if g.lost == nil {
			g.lost, g.lostSince = marker, now
			g.log.Error("store lost data (found by another replica): serving what is loaded, refusing changes until an operator acts",
				"store", g.where, "seen", marker.Seen, "found", marker.Found, "detected_by", marker.DetectedBy, "err", g.lostErrLocked())
		}
	case g.lost != nil:
		write = g.lost // the marker vanished (Redis lost data again, or it was deleted): put it back
	case epoch < epochBefore || (epoch == epochBefore && rev < seenBefore):
		g.lost = &health.Loss{Seen: seenBefore, Found: rev, DetectedAt: now, DetectedBy: g.id}
		g.lostSince = now
		write = g.lost
		g.log.Error("store lost data: serving what is loaded, refusing changes until an operator acts",
			"store", g.where, "seen", seenBefore, "found", rev, "epoch", epochBefore, "store_epoch", epoch, "err", g.lostErrLocked())
	default:
		if rev > g.seen {
			g.seen = rev
			g.publishLocked(rev)
		}
	}
	var count func(context.Context) (int64, error)
	if g.lost != nil {
		for _, f := range g.followers {
			if f.Count != nil {
				count = f.Count
			}
		}
	}
	g.mu.Unlock()
	if write != nil {
		data, _ := json.Marshal(write)
		_ = g.c.SetNX(pctx, g.keyLost, data, 0).Err() // the next poll retries
	}
	if count != nil {
		if n, err := count(pctx); err == nil {
			g.mu.Lock()
			g.inStore = &n
			g.mu.Unlock()
		}
	}
}

// persist writes the seen file when the epoch or the newest revision seen
// changed. Only the poll goroutine (and open, close) call it.
func (g *Guard) persist() {
	g.mu.Lock()
	s := seenFile{Epoch: g.epoch, Revision: g.seen}
	g.mu.Unlock()
	if s == g.persisted {
		return
	}
	if err := writeSeen(g.opt.SeenFile, s); err != nil {
		g.log.Error("cannot record the newest store revision seen; a restart may not notice a Redis that lost data", "file", g.opt.SeenFile, "err", err)
		return
	}
	g.persisted = s
}

// AcceptLoss ends the lost-data state on every replica: the operator has
// restored Redis or decided to start over from what it holds now. revision
// must be the store's current revision (Status().Revision), so an
// acceptance is of a state the operator looked at; otherwise it fails with
// health.ErrWrongRevision. It fails with health.ErrNothingLost when the
// store has not lost data.
//
// In one transaction it checks revision against the counter, raises the
// counter to at least every revision seen before (so revisions, the admin
// API's ETags, are never reused), gives the store a new epoch and removes
// the marker. Every replica's next poll adopts the store as it is, and its
// registry reloads from it.
func (g *Guard) AcceptLoss(ctx context.Context, revision uint64) (health.Status, error) {
	var next uint64
	err := g.c.Watch(ctx, func(tx *goredis.Tx) error {
		vals, err := tx.MGet(ctx, g.keyRev, g.keyEpoch, g.keyLost).Result()
		if err != nil {
			return err
		}
		rev, err1 := uintVal(vals[0])
		epoch, err2 := uintVal(vals[1])
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		g.mu.Lock()
		local, myEpoch, seen := g.lost, g.epoch, g.seen
		g.mu.Unlock()
		var marker health.Loss
		s, hasMarker := vals[2].(string)
		if hasMarker {
			_ = json.Unmarshal([]byte(s), &marker)
		}
		if !hasMarker && local == nil && epoch >= myEpoch && rev >= seen {
			return fmt.Errorf("%s has not lost data (revision %d); there is nothing to accept: %w", g.where, rev, health.ErrNothingLost)
		}
		if rev != revision {
			return fmt.Errorf("%s holds revision %d, not %d: check what it holds (`imhook store status`) and accept that revision: %w", g.where, rev, revision, health.ErrWrongRevision)
		}
		next = max(rev, seen, marker.Seen)
		if local != nil {
			next = max(next, local.Seen)
		}
		newEpoch := max(epoch+1, myEpoch+1, uint64(time.Now().Unix()))
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, g.keyRev, next, 0)
			p.Set(ctx, g.keyEpoch, newEpoch, 0)
			p.Del(ctx, g.keyLost)
			return nil
		})
		return err
	}, g.keyRev, g.keyEpoch, g.keyLost)
	switch {
	case errors.Is(err, health.ErrNothingLost), errors.Is(err, health.ErrWrongRevision):
		return g.Status(), err
	case errors.Is(err, goredis.TxFailedErr):
		return g.Status(), fmt.Errorf("%s changed during the acceptance; check `imhook store status` and retry: %w", g.where, health.ErrWrongRevision)
	case err != nil:
		return g.Status(), fmt.Errorf("accept lost data: %s: %w (%w)", g.where, err, health.ErrUnavailable)
	}
	g.log.Warn("store: lost data accepted through this replica", "store", g.where, "revision", next)
	g.check(ctx)
	return g.Status(), nil
}

// uintVal reads an MGET value: nil (missing) is 0.
func uintVal(v any) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected %T", v)
	}
	return strconv.ParseUint(s, 10, 64)
}

// DefaultReplicaID is the host name and process ID.
func DefaultReplicaID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "imhook"
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}
