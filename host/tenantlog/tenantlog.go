// Package tenantlog keeps each tenant's recent log lines for the tenant to
// read and follow through the admin API (GET /v1/tenants/{tenant}/logs,
// imhook logs): its plugins' log lines with their attributes, failures with
// their kind and the failure policy's answer, and what imhook says about its
// plugin versions.
//
// Everything is bounded: lines and bytes per tenant, bytes across tenants
// (the tenant written to least recently loses its oldest lines first),
// followers per tenant and in all. A follower that does not keep up loses
// lines, counted, and never slows a callback: a line is offered to each
// follower without waiting.
package tenantlog

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of line.
const (
	// KindLog is a line a plugin logged.
	KindLog = "log"
	// KindFailure is a plugin call that failed; Failure is its kind and
	// Policy how the failure policy answered.
	KindFailure = "failure"
	// KindPolicy is a callback the failure policy answered without a
	// plugin call (the server was at server.max_concurrent).
	KindPolicy = "policy"
	// KindHost is imhook about the tenant's plugins: a version loaded, or
	// failed to load.
	KindHost = "host"
)

// Line is one line of a tenant's log.
type Line struct {
	// Seq numbers the tenant's lines from 1, in order; a follower resumes
	// after the last it saw.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// Level is debug, info, warn or error.
	Level       string `json:"level"`
	Plugin      string `json:"plugin,omitempty"`
	Version     string `json:"version,omitempty"` // the plugin version's short hash
	Command     string `json:"command,omitempty"`
	OperationID string `json:"operation_id,omitempty"`
	Message     string `json:"message"`
	// Attrs are the line's key=value pairs (a plugin's, or imhook's).
	Attrs map[string]string `json:"attrs,omitempty"`
	// Failure is the failure's kind (cpu_time, memory, trap, guest_error,
	// bad_reply, instances, ...) of a failure or policy line.
	Failure string `json:"failure,omitempty"`
	// Policy is how the failure policy answered: "open" (the neutral
	// reply, the operation goes on) or "closed" (a stop reply).
	Policy string `json:"policy,omitempty"`
}

// Options bound a Store. Zero fields take the defaults.
type Options struct {
	// MaxLines and MaxBytes bound each tenant's lines (default 1000 lines,
	// 256 KiB); the oldest go first.
	MaxLines, MaxBytes int
	// MaxTotalBytes bounds every tenant's lines together (default 32 MiB).
	MaxTotalBytes int64
	// MaxFollowers bounds the followers of one tenant (default 4), and
	// MaxFollowersTotal those of every tenant (default 64).
	MaxFollowers, MaxFollowersTotal int
	// FollowBuffer is how many lines wait for a follower before the next
	// are dropped (default 256).
	FollowBuffer int
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxLines, 1000)
	def(&o.MaxBytes, 256<<10)
	def(&o.MaxFollowers, 4)
	def(&o.MaxFollowersTotal, 64)
	def(&o.FollowBuffer, 256)
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = 32 << 20
	}
	return o
}

// Errors of Follow.
var (
	ErrTooManyFollowers = errors.New("too many log followers")
	ErrClosed           = errors.New("the server is shutting down")
)

// Store holds every tenant's lines. It is safe for concurrent use.
type Store struct {
	opt       Options
	mu        sync.RWMutex
	rings     map[string]*ring
	closed    bool
	total     atomic.Int64 // bytes of every ring
	followers atomic.Int64
	evictMu   sync.Mutex
}

// New returns an empty store.
func New(opt Options) *Store {
	return &Store{opt: opt.withDefaults(), rings: map[string]*ring{}}
}

// ring is one tenant's lines, oldest first.
type ring struct {
	mu        sync.Mutex
	lines     []entry
	bytes     int
	seq       uint64
	last      atomic.Int64 // unix nanoseconds of the last Add
	followers map[*Follower]struct{}
}

type entry struct {
	line  Line
	level slog.Level
	size  int
}

// lineOverhead is what a line costs besides its strings.
const lineOverhead = 128

func size(l *Line) int {
	n := lineOverhead + len(l.Kind) + len(l.Level) + len(l.Plugin) + len(l.Version) + len(l.Command) +
		len(l.OperationID) + len(l.Message) + len(l.Failure) + len(l.Policy)
	for k, v := range l.Attrs {
		n += len(k) + len(v) + 16
	}
	return n
}

// Add appends a line to tenant's log; Seq is set here, and Time when zero.
func (s *Store) Add(tenant string, l Line) {
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	lvl := ParseLevel(l.Level)
	l.Level = levelName(lvl)
	s.clip(&l)
	e := entry{line: l, level: lvl, size: size(&l)}
	r := s.ring(tenant)
	if r == nil {
		return // closed
	}
	r.mu.Lock()
	r.seq++
	e.line.Seq = r.seq
	r.lines = append(r.lines, e)
	delta := e.size
	for len(r.lines) > s.opt.MaxLines || r.bytes+delta > s.opt.MaxBytes && len(r.lines) > 1 {
		delta -= r.lines[0].size
		r.lines[0] = entry{}
		r.lines = r.lines[1:]
	}
	r.bytes += delta
	for f := range r.followers {
		f.offer(&e)
	}
	r.mu.Unlock()
	r.last.Store(e.line.Time.UnixNano())
	if s.total.Add(int64(delta)) > s.opt.MaxTotalBytes {
		s.evict()
	}
}

// clip shortens a line that alone would take more than a quarter of a
// tenant's bytes.
func (s *Store) clip(l *Line) {
	max := s.opt.MaxBytes / 4
	if size(l) <= max {
		return
	}
	const mark = " ... (cut: the line was too long)"
	if len(l.Message) > max/2 {
		l.Message = strings.ToValidUTF8(l.Message[:max/2], "") + mark
	}
	for k, v := range l.Attrs {
		if size(l) <= max {
			break
		}
		if len(v) > 64 {
			l.Attrs[k] = strings.ToValidUTF8(v[:64], "") + mark
		}
	}
	for k := range l.Attrs {
		if size(l) <= max {
			break
		}
		delete(l.Attrs, k)
	}
}

// ring returns tenant's ring, creating it; nil when the store is closed.
func (s *Store) ring(tenant string) *ring {
	s.mu.RLock()
	r := s.rings[tenant]
	closed := s.closed
	s.mu.RUnlock()
	if r != nil || closed {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if r = s.rings[tenant]; r == nil {
		r = &ring{followers: map[*Follower]struct{}{}}
		s.rings[tenant] = r
	}
	return r
}

// evict drops lines until every tenant's lines together take at most 90%
// of MaxTotalBytes: the oldest half of the tenant written to least
// recently, again and again.
func (s *Store) evict() {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	target := s.opt.MaxTotalBytes / 10 * 9
	for s.total.Load() > target {
		s.mu.RLock()
		var oldest *ring
		var when int64
		for _, r := range s.rings {
			if t := r.last.Load(); (oldest == nil || t < when) && r.hasLines() {
				oldest, when = r, t
			}
		}
		s.mu.RUnlock()
		if oldest == nil {
			return
		}
		oldest.mu.Lock()
		n := max(1, len(oldest.lines)/2)
		freed := 0
		for i := range n {
			freed += oldest.lines[i].size
			oldest.lines[i] = entry{}
		}
		oldest.lines = oldest.lines[n:]
		oldest.bytes -= freed
		oldest.mu.Unlock()
		s.total.Add(-int64(freed))
	}
}

func (r *ring) hasLines() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines) > 0
}

// Filter selects lines. The zero Filter selects every line.
type Filter struct {
	// Plugin and Command, when set, select the lines of that plugin and
	// that callback command.
	Plugin, Command string
	// Level selects lines at or above it (slog's levels; zero is info, so
	// set slog.LevelDebug to see debug lines).
	Level slog.Level
	// After selects lines whose Seq is greater.
	After uint64
	// Since selects lines at or after that time.
	Since time.Time
}

func (f *Filter) match(e *entry) bool {
	return e.line.Seq > f.After && e.level >= f.Level &&
		(f.Plugin == "" || e.line.Plugin == f.Plugin) &&
		(f.Command == "" || e.line.Command == f.Command) &&
		(f.Since.IsZero() || !e.line.Time.Before(f.Since))
}

// Lines returns tenant's lines that f selects, oldest first, at most limit
// of them (the newest; 0 means all), and the Seq of the tenant's last line.
func (s *Store) Lines(tenant string, f Filter, limit int) ([]Line, uint64) {
	s.mu.RLock()
	r := s.rings[tenant]
	s.mu.RUnlock()
	if r == nil {
		return nil, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.select_(f, limit), r.seq
}

func (r *ring) select_(f Filter, limit int) []Line {
	var out []Line
	for i := range r.lines {
		if f.match(&r.lines[i]) {
			out = append(out, r.lines[i].line)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// Forget drops tenant's lines and ends its followers (the tenant was
// deleted).
func (s *Store) Forget(tenant string) {
	s.mu.Lock()
	r := s.rings[tenant]
	delete(s.rings, tenant)
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	s.total.Add(-int64(r.bytes))
	r.lines, r.bytes = nil, 0
	for f := range r.followers {
		f.end()
	}
	r.mu.Unlock()
}

// Close ends every follower and refuses new ones; lines added later are
// dropped.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	rings := s.rings
	s.mu.Unlock()
	for _, r := range rings {
		r.mu.Lock()
		for f := range r.followers {
			f.end()
		}
		r.mu.Unlock()
	}
}

// Follower receives a tenant's new lines as they are added. Read C until it
// is closed, or call Close.
type Follower struct {
	// C delivers the lines; it is closed when the follower ends (Close, the
	// tenant deleted, the store closed).
	C       <-chan Line
	ch      chan Line
	filter  Filter
	dropped atomic.Uint64
	s       *Store
	r       *ring
	ended   bool // guarded by r.mu
	closing sync.Once
}

// Follow returns the lines f selects now (at most limit, as Lines does) and
// a Follower of the lines added afterwards. Nothing is lost between the two.
//
// # Errors
//
// ErrTooManyFollowers when the tenant or the server has as many followers
// as allowed, ErrClosed after Close.
func (s *Store) Follow(tenant string, f Filter, limit int) ([]Line, *Follower, error) {
	if s.followers.Add(1) > int64(s.opt.MaxFollowersTotal) {
		s.followers.Add(-1)
		return nil, nil, ErrTooManyFollowers
	}
	r := s.ring(tenant)
	if r == nil {
		s.followers.Add(-1)
		return nil, nil, ErrClosed
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.followers) >= s.opt.MaxFollowers {
		s.followers.Add(-1)
		return nil, nil, ErrTooManyFollowers
	}
	fl := &Follower{ch: make(chan Line, s.opt.FollowBuffer), filter: f, s: s, r: r}
	fl.C = fl.ch
	r.followers[fl] = struct{}{}
	return r.select_(f, limit), fl, nil
}

// offer hands a line to the follower without waiting. The caller holds
// f.r.mu.
func (f *Follower) offer(e *entry) {
	if f.ended || !f.filter.match(e) {
		return
	}
	select {
	case f.ch <- e.line:
	default:
		f.dropped.Add(1)
	}
}

// end closes C. The caller holds f.r.mu.
func (f *Follower) end() {
	if f.ended {
		return
	}
	f.ended = true
	delete(f.r.followers, f)
	close(f.ch)
	f.s.followers.Add(-1)
}

// Dropped returns how many lines were dropped since the last call because
// the follower's buffer was full, and resets the count.
func (f *Follower) Dropped() uint64 { return f.dropped.Swap(0) }

// Close stops the follower and closes C.
func (f *Follower) Close() {
	f.closing.Do(func() {
		f.r.mu.Lock()
		f.end()
		f.r.mu.Unlock()
	})
}

// ParseLevel reads debug, info, warn or error (any case; empty is info).
// Unknown names are info.
func ParseLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(s)) != nil {
		return slog.LevelInfo
	}
	return l
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
