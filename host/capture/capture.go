// Package capture keeps the recent callbacks of the tenants that asked for
// it, with the reply imhook gave and the plugin versions that gave it, so
// that a tenant can run them again against a fix (imhook replay): the
// callback that went wrong in production, replayed.
//
// Capture is off until a tenant turns it on, and bounded: callbacks and age
// per tenant (the tenant's settings, under the package's caps), bytes per
// tenant and across tenants. Fields the tenant names are redacted before a
// callback is kept. Captured callbacks live in this server's memory only:
// they are gone at restart, and each replica keeps those it served.
package capture

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Caps on a tenant's settings.
const (
	DefaultMaxCallbacks = 100
	MaxCallbacks        = 1000
	DefaultMaxAge       = time.Hour
	MaxAge              = 24 * time.Hour
	MaxRedact           = 32
)

// Redacted replaces the value of a redacted field.
const Redacted = "[redacted]"

// Settings are a tenant's capture settings: the body of PUT
// /v1/tenants/{tenant}/capture.
type Settings struct {
	// Enabled turns capture on.
	Enabled bool `json:"enabled"`
	// MaxCallbacks keeps the newest callbacks up to this many (default
	// 100, at most 1000).
	MaxCallbacks int `json:"max_callbacks,omitempty"`
	// MaxAge drops callbacks older than this: a duration with its unit,
	// such as "30m" (default 1h, at most 24h).
	MaxAge string `json:"max_age,omitempty"`
	// Redact lists the request fields replaced by "[redacted]" before a
	// callback is kept, as dotted JSON paths: "content", "ex",
	// "offlinePushInfo.title"; a path through an array applies to each
	// element. At most 32.
	Redact []string `json:"redact,omitempty"`
}

// check validates s and returns it with the defaults applied, and its age.
func (s Settings) check() (Settings, time.Duration, error) {
	if s.MaxCallbacks == 0 {
		s.MaxCallbacks = DefaultMaxCallbacks
	}
	if s.MaxCallbacks < 1 || s.MaxCallbacks > MaxCallbacks {
		return s, 0, fmt.Errorf("max_callbacks[%d]: want 1 to %d", s.MaxCallbacks, MaxCallbacks)
	}
	age := DefaultMaxAge
	if s.MaxAge != "" {
		d, err := time.ParseDuration(s.MaxAge)
		if err != nil {
			return s, 0, fmt.Errorf("max_age[%s]: want a duration with its unit, such as 30m or 2h", s.MaxAge)
		}
		age = d
	}
	if age <= 0 || age > MaxAge {
		return s, 0, fmt.Errorf("max_age[%s]: want more than 0 and at most %s", s.MaxAge, MaxAge)
	}
	s.MaxAge = age.String()
	if len(s.Redact) > MaxRedact {
		return s, 0, fmt.Errorf("redact: %d paths, at most %d", len(s.Redact), MaxRedact)
	}
	for _, p := range s.Redact {
		if p == "" || len(p) > 256 || slices.Contains(strings.Split(p, "."), "") {
			return s, 0, fmt.Errorf("redact[%q]: want a dotted path of JSON keys such as content or offlinePushInfo.title", p)
		}
	}
	return s, age, nil
}

// Version names a plugin and the version of it that ran.
type Version struct {
	Plugin  string `json:"plugin"`
	Version string `json:"version"` // the full hash
}

// Callback is one captured callback.
type Callback struct {
	// ID numbers the tenant's captured callbacks from 1.
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	Command     string    `json:"command"`
	OperationID string    `json:"operation_id,omitempty"`
	// Request is the body OpenIM sent, its Redact fields replaced.
	Request json.RawMessage `json:"request"`
	// Reply is what imhook answered.
	Reply json.RawMessage `json:"reply"`
	// Outcome is ok, neutral, stopped, policy or overloaded (as in
	// imhook_callbacks_total).
	Outcome string `json:"outcome"`
	// Plugin is the plugin that stopped the operation or failed, and
	// Failure its failure's kind.
	Plugin  string `json:"plugin,omitempty"`
	Failure string `json:"failure,omitempty"`
	// Versions are the plugins that ran, in order.
	Versions []Version `json:"versions"`
	// Redacted lists the paths that were replaced.
	Redacted []string `json:"redacted,omitempty"`
}

// Stats count what a tenant's capture kept and skipped.
type Stats struct {
	Kept int `json:"kept"`
	// SkippedLarge counts callbacks too large to keep (a quarter of the
	// tenant's bytes), SkippedFull those skipped because every tenant's
	// captures together were at the server's bound.
	SkippedLarge uint64 `json:"skipped_large"`
	SkippedFull  uint64 `json:"skipped_full"`
}

// Options bound a Store; zero fields take the defaults.
type Options struct {
	// MaxBytes bounds one tenant's captures (default 4 MiB), MaxTotalBytes
	// every tenant's (default 64 MiB).
	MaxBytes, MaxTotalBytes int64
}

// Store holds the captures. It is safe for concurrent use.
type Store struct {
	opt     Options
	on      atomic.Int64 // tenants with capture on: Enabled's fast path
	total   atomic.Int64
	mu      sync.RWMutex
	tenants map[string]*tenant
}

type tenant struct {
	mu       sync.Mutex
	settings Settings
	age      time.Duration
	kept     []Callback // oldest first
	bytes    int64
	seq      uint64
	stats    Stats
}

// New returns a store with capture off for everyone.
func New(opt Options) *Store {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 4 << 20
	}
	if opt.MaxTotalBytes <= 0 {
		opt.MaxTotalBytes = 64 << 20
	}
	return &Store{opt: opt, tenants: map[string]*tenant{}}
}

// Enabled reports whether tenant captures; it costs one atomic load while no
// tenant does.
func (s *Store) Enabled(id string) bool {
	if s.on.Load() == 0 {
		return false
	}
	s.mu.RLock()
	t := s.tenants[id]
	s.mu.RUnlock()
	return t != nil && t.settings.Enabled // settings only change under s.mu
}

// Set replaces tenant's settings and returns them with defaults applied.
// Turning capture off keeps what was captured until Clear or Forget.
func (s *Store) Set(id string, st Settings) (Settings, error) {
	st, age, err := st.check()
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[id]
	if t == nil {
		t = &tenant{}
		s.tenants[id] = t
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case st.Enabled && !t.settings.Enabled:
		s.on.Add(1)
	case !st.Enabled && t.settings.Enabled:
		s.on.Add(-1)
	}
	t.settings, t.age = st, age
	s.trim(t, time.Now())
	return st, nil
}

// Get returns tenant's settings (capture off when never set), what it keeps
// (oldest first, none older than its max_age) and its stats.
func (s *Store) Get(id string) (Settings, []Callback, Stats) {
	s.mu.RLock()
	t := s.tenants[id]
	s.mu.RUnlock()
	if t == nil {
		return Settings{MaxCallbacks: DefaultMaxCallbacks, MaxAge: DefaultMaxAge.String()}, nil, Stats{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.trim(t, time.Now())
	st := t.stats
	st.Kept = len(t.kept)
	return t.settings, slices.Clone(t.kept), st
}

// Add keeps a callback of tenant when it captures. body is the request as
// OpenIM sent it (copied, then redacted); cb's Request and ID are set here.
func (s *Store) Add(id string, cb Callback, body []byte) {
	s.mu.RLock()
	t := s.tenants[id]
	s.mu.RUnlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.settings.Enabled {
		return
	}
	req, redacted := redact(body, t.settings.Redact)
	cb.Request, cb.Redacted = req, redacted
	cb.Reply = bytes.Clone(cb.Reply)
	if cb.Time.IsZero() {
		cb.Time = time.Now()
	}
	n := cbSize(&cb)
	if n > s.opt.MaxBytes/4 {
		t.stats.SkippedLarge++
		return
	}
	if s.total.Add(n) > s.opt.MaxTotalBytes {
		s.total.Add(-n)
		t.stats.SkippedFull++
		return
	}
	t.seq++
	cb.ID = t.seq
	t.kept = append(t.kept, cb)
	t.bytes += n
	s.trim(t, cb.Time)
}

// trim drops what is too old, too many or too big. The caller holds t.mu.
func (s *Store) trim(t *tenant, now time.Time) {
	drop := 0
	var bytes int64 = t.bytes
	for drop < len(t.kept) && (len(t.kept)-drop > t.settings.MaxCallbacks || bytes > s.opt.MaxBytes ||
		now.Sub(t.kept[drop].Time) > t.age) {
		bytes -= cbSize(&t.kept[drop])
		drop++
	}
	if drop == 0 {
		return
	}
	clear(t.kept[:drop])
	t.kept = t.kept[drop:]
	s.total.Add(bytes - t.bytes)
	t.bytes = bytes
}

func cbSize(cb *Callback) int64 {
	n := 256 + len(cb.Request) + len(cb.Reply) + len(cb.Command) + len(cb.OperationID) + len(cb.Plugin) + len(cb.Failure)
	for _, v := range cb.Versions {
		n += len(v.Plugin) + len(v.Version) + 32
	}
	for _, r := range cb.Redacted {
		n += len(r) + 16
	}
	return int64(n)
}

// Clear drops tenant's captured callbacks; its settings stay.
func (s *Store) Clear(id string) {
	s.mu.RLock()
	t := s.tenants[id]
	s.mu.RUnlock()
	if t == nil {
		return
	}
	t.mu.Lock()
	s.total.Add(-t.bytes)
	t.kept, t.bytes = nil, 0
	t.mu.Unlock()
}

// Forget drops everything of tenant (the tenant was deleted).
func (s *Store) Forget(id string) {
	s.Clear(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tenants[id]; t != nil && t.settings.Enabled {
		s.on.Add(-1)
	}
	delete(s.tenants, id)
}

// redact returns body with the values at paths replaced by Redacted, and
// the paths replaced. Without paths, or when body is not a JSON object, it
// returns a copy of body (marking every path when it could not look).
func redact(body []byte, paths []string) (json.RawMessage, []string) {
	if len(paths) == 0 {
		return bytes.Clone(body), nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return json.RawMessage(`{}`), paths // never keep what could not be redacted
	}
	if _, ok := v.(map[string]any); !ok {
		return json.RawMessage(`{}`), paths
	}
	var done []string
	for _, p := range paths {
		if redactPath(v, strings.Split(p, ".")) {
			done = append(done, p)
		}
	}
	if len(done) == 0 {
		return bytes.Clone(body), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return json.RawMessage(`{}`), paths
	}
	return bytes.TrimRight(b.Bytes(), "\n"), done
}

// redactPath replaces the values at path under v and reports whether it
// replaced any. An array on the way applies the rest of the path to each
// element.
func redactPath(v any, path []string) bool {
	switch x := v.(type) {
	case []any:
		any := false
		for _, e := range x {
			any = redactPath(e, path) || any
		}
		return any
	case map[string]any:
		child, ok := x[path[0]]
		if !ok {
			return false
		}
		if len(path) == 1 {
			if child != nil {
				x[path[0]] = Redacted
			}
			return child != nil
		}
		return redactPath(child, path[1:])
	}
	return false
}
