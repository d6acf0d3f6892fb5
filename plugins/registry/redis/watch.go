package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/imhook/imhook/plugins/registry"
)

// Watch implements registry.Backend.Watch. It reports this process's
// commits at once, other processes' commits when their pub/sub message
// arrives, and any commit whose message was lost (Redis restarted, the
// subscription reconnected) at the next poll of the counter, within
// redisdb.Config.PollInterval. While the store is in the lost-data state it
// reports nothing; when an operator ends that state it reports the store's
// revision even if it is not newer (the history was replaced).
func (b *Backend) Watch(ctx context.Context) <-chan uint64 { return b.feed.Watch(ctx) }

// Health returns nil while Redis answers and holds everything seen before,
// and otherwise an error saying since when and why not ("registry: redis at
// 127.0.0.1:6379 since 12:00:01Z: unreachable: ..."), wrapping ErrDataLost
// after a loss. It is updated by the poll, so it changes within about
// PollInterval plus DialTimeout. It never waits on Redis.
func (b *Backend) Health() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost != nil {
		return b.lostErrLocked()
	}
	if b.downErr == nil {
		return nil
	}
	return fmt.Errorf("registry: %s since %s: %w", b.where, b.downSince.UTC().Format(time.RFC3339), b.downErr)
}

// Status implements registry.Monitored.
func (b *Backend) Status() registry.StoreStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := registry.StoreStatus{State: registry.StoreOK, Since: b.okSince, Revision: b.storeRev,
		Seen: b.seen, Epoch: b.epoch, LastRead: b.lastRead}
	switch {
	case b.lost != nil:
		l := *b.lost
		n := b.tenantsInStore
		s.State, s.Since, s.Lost, s.Tenants = registry.StoreLost, b.lostSince, &l, &n
		s.Reason = b.lostErrLocked().Error()
	case b.downErr != nil:
		s.State, s.Since = registry.StoreUnreachable, b.downSince
		s.Reason = fmt.Sprintf("%s: %v; callbacks are served from the last loaded state, admin changes are refused until it answers", b.where, b.downErr)
	}
	return s
}

// lostErrLocked is the error of every call refused in the lost-data state;
// it says what to do. The caller holds b.mu and b.lost is set.
func (b *Backend) lostErrLocked() error {
	l := b.lost
	return fmt.Errorf("registry: %s went back to revision %d, below the %d seen before (found %s by replica %s): Redis lost registry data; "+
		"every replica keeps serving what it loaded and changes are refused. Restore Redis from its backup (or decide to start over), check `imhook store status`, "+
		"then end this with `imhook store accept --revision <its revision>` (docs/deploy.md): %w",
		b.where, l.Found, l.Seen, l.DetectedAt.UTC().Format(time.RFC3339), l.DetectedBy, registry.ErrDataLost)
}

// refuseLost returns the lost-data error when the store is in that state.
func (b *Backend) refuseLost() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost != nil {
		return b.lostErrLocked()
	}
	return nil
}

// observe hands rev to the watchers when it is newer than anything seen,
// unless the store lost data (then nothing is news until an operator acts).
func (b *Backend) observe(rev uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rev > b.seen && b.lost == nil {
		b.seen = rev
		b.feed.Publish(rev)
	}
}

// setDown records that a poll failed, logging the first failure.
func (b *Backend) setDown(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.downErr == nil {
		b.downSince = time.Now()
		b.log.Error("store unreachable: callbacks are served from the last loaded state, admin changes are refused",
			"store", b.where, "err", err)
	}
	b.downErr = err // keep the first failure's time, show the latest cause
}

// setUpLocked records a successful poll, logging the end of an outage.
func (b *Backend) setUpLocked(now time.Time) {
	if b.downErr != nil {
		b.log.Info("store reachable again", "store", b.where, "down_for", now.Sub(b.downSince).Round(time.Millisecond).String(),
			"revision", b.storeRev)
		b.downErr, b.downSince = nil, time.Time{}
		b.okSince = now
	}
	b.lastRead = now
}

// subscribe follows the change channel until ctx ends. go-redis resubscribes
// after a reconnect by itself; what is published meanwhile is lost, and the
// poll makes up for it.
func (b *Backend) subscribe(ctx context.Context) {
	defer b.wg.Done()
	ps := b.c.Subscribe(ctx, b.k.channel())
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			if rev, err := strconv.ParseUint(m.Payload, 10, 64); err == nil {
				b.observe(rev)
			}
		}
	}
}

// poll checks the store every PollInterval until ctx ends, publishing what
// pub/sub missed, recording whether Redis answers and whether it lost data,
// and keeping the seen file up to date.
func (b *Backend) poll(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.check(ctx)
		if ctx.Err() != nil {
			return
		}
		b.persist()
	}
}

// pollTimeout bounds one poll.
func (b *Backend) pollTimeout() time.Duration {
	return max(4*b.cfg.PollInterval, b.cfg.DialTimeout, time.Second)
}

// check reads the revision counter, the epoch and the lost-data marker in
// one round trip (one slot) and moves the state machine:
//
//   - an epoch newer than ours: an operator accepted a loss; adopt the
//     store's revision as the truth and have watchers reload;
//   - a marker: some replica found the store went back; refuse until an
//     operator accepts;
//   - a counter below what we saw, or an older epoch: we found it; write the
//     marker so every replica (and every replica that starts later, even one
//     with an empty data directory) refuses too;
//   - otherwise: publish the counter if it is news.
//
// Nothing but AcceptLoss ends the lost-data state: not writes, not restarts.
func (b *Backend) check(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, b.pollTimeout())
	defer cancel()
	// What was seen before the read: pub/sub may raise b.seen meanwhile,
	// and only a counter below a value seen earlier is a loss.
	b.mu.Lock()
	seenBefore, epochBefore := b.seen, b.epoch
	b.mu.Unlock()
	vals, err := b.c.MGet(pctx, b.k.rev(), b.k.epoch(), b.k.lost()).Result()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		b.setDown(fmt.Errorf("unreachable: %w", err))
		return
	}
	rev, err1 := uintVal(vals[0])
	epoch, err2 := uintVal(vals[1])
	if err := errors.Join(err1, err2); err != nil {
		b.setDown(fmt.Errorf("unreadable counters: %w", err))
		return
	}
	var marker *registry.Loss
	if s, ok := vals[2].(string); ok {
		marker = new(registry.Loss)
		if json.Unmarshal([]byte(s), marker) != nil {
			marker = &registry.Loss{DetectedBy: "unknown (unreadable marker " + b.k.lost() + ")"}
		}
	}
	now := time.Now()
	var write *registry.Loss // a marker to put (back) into Redis
	b.mu.Lock()
	b.storeRev = rev
	b.setUpLocked(now)
	if epoch > b.epoch {
		if b.lost != nil || b.epoch != 0 || b.seen != 0 {
			b.log.Warn("store: an operator accepted the lost data; the registry as Redis now holds it is the truth, reloading",
				"store", b.where, "revision", rev, "epoch", epoch)
		}
		b.epoch, b.seen, b.lost = epoch, rev, nil
		b.okSince = now
		b.feed.Restart(rev)
	}
	switch {
	case marker != nil:
		if b.lost == nil {
			b.lost, b.lostSince = marker, now
			b.log.Error("store lost data (found by another replica): serving what is loaded, refusing changes until an operator acts",
				"store", b.where, "seen", marker.Seen, "found", marker.Found, "detected_by", marker.DetectedBy, "err", b.lostErrLocked())
		}
	case b.lost != nil:
		write = b.lost // the marker vanished (Redis lost data again, or it was deleted): put it back
	case epoch < epochBefore || (epoch == epochBefore && rev < seenBefore):
		b.lost = &registry.Loss{Seen: seenBefore, Found: rev, DetectedAt: now, DetectedBy: b.id}
		b.lostSince = now
		write = b.lost
		b.log.Error("store lost data: serving what is loaded, refusing changes until an operator acts",
			"store", b.where, "seen", seenBefore, "found", rev, "epoch", epochBefore, "store_epoch", epoch, "err", b.lostErrLocked())
	default:
		if rev > b.seen {
			b.seen = rev
			b.feed.Publish(rev)
		}
	}
	lost := b.lost != nil
	b.mu.Unlock()
	if write != nil {
		data, _ := json.Marshal(write)
		_ = b.c.SetNX(pctx, b.k.lost(), data, 0).Err() // the next poll retries
	}
	if lost {
		if n, err := b.c.SCard(pctx, b.k.tenants()).Result(); err == nil {
			b.mu.Lock()
			b.tenantsInStore = n
			b.mu.Unlock()
		}
	}
}

// persist writes the seen file when the epoch or the newest revision seen
// changed. Only the poll goroutine (and Open, Close) call it.
func (b *Backend) persist() {
	b.mu.Lock()
	s := seenFile{Epoch: b.epoch, Revision: b.seen}
	b.mu.Unlock()
	if s == b.persisted {
		return
	}
	if err := writeSeen(b.opt.SeenFile, s); err != nil {
		b.log.Error("cannot record the newest registry revision seen; a restart may not notice a Redis that lost data", "file", b.opt.SeenFile, "err", err)
		return
	}
	b.persisted = s
}

// AcceptLoss implements registry.Monitored. In one transaction it checks
// revision against the counter, raises the counter to at least every
// revision seen before (so revisions, the admin API's ETags, are never
// reused), gives the store a new epoch and removes the marker. Every
// replica's next poll adopts the store as it is and reloads from it.
func (b *Backend) AcceptLoss(ctx context.Context, revision uint64) (registry.StoreStatus, error) {
	var next uint64
	err := b.c.Watch(ctx, func(tx *goredis.Tx) error {
		vals, err := tx.MGet(ctx, b.k.rev(), b.k.epoch(), b.k.lost()).Result()
		if err != nil {
			return err
		}
		rev, err1 := uintVal(vals[0])
		epoch, err2 := uintVal(vals[1])
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		b.mu.Lock()
		local, myEpoch, seen := b.lost, b.epoch, b.seen
		b.mu.Unlock()
		var marker registry.Loss
		s, hasMarker := vals[2].(string)
		if hasMarker {
			_ = json.Unmarshal([]byte(s), &marker)
		}
		if !hasMarker && local == nil && epoch >= myEpoch && rev >= seen {
			return fmt.Errorf("registry: %s has not lost data (revision %d); there is nothing to accept: %w", b.where, rev, registry.ErrInvalid)
		}
		if rev != revision {
			return fmt.Errorf("registry: %s holds revision %d, not %d: check what it holds (`imhook store status`) and accept that revision: %w", b.where, rev, revision, registry.ErrConflict)
		}
		next = max(rev, seen, marker.Seen)
		if local != nil {
			next = max(next, local.Seen)
		}
		newEpoch := max(epoch+1, myEpoch+1, uint64(time.Now().Unix()))
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, b.k.rev(), next, 0)
			p.Set(ctx, b.k.epoch(), newEpoch, 0)
			p.Del(ctx, b.k.lost())
			p.Set(ctx, b.k.format(), Format, 0)
			return nil
		})
		return err
	}, b.k.rev(), b.k.epoch(), b.k.lost())
	switch {
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, registry.ErrConflict):
		return b.Status(), err
	case errors.Is(err, goredis.TxFailedErr):
		return b.Status(), fmt.Errorf("registry: %s changed during the acceptance; check `imhook store status` and retry: %w", b.where, registry.ErrConflict)
	case err != nil:
		return b.Status(), b.fail("accept lost data", err)
	}
	_ = b.c.Publish(ctx, b.k.channel(), next).Err()
	b.log.Warn("store: lost data accepted through this replica", "store", b.where, "revision", next)
	b.check(ctx)
	return b.Status(), nil
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
