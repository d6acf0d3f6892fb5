package webhook

import (
	"sync"
	"time"
)

// logEvery is how often a repeating warning is written, per tenant and
// kind: a tenant whose plugin fails on every callback, or a client hammering
// a wrong url, would otherwise put one line per callback in the operator's
// log (and spend the server's CPU formatting them). The metrics still count
// every callback; the lines that are written say how many were left out.
const logEvery = time.Second

// maxLogKeys bounds the limiter's memory: keys are known tenants' ids and a
// fixed set of kinds, and the ones whose window has passed are swept out
// when this many are kept.
const maxLogKeys = 4096

// logKey is one stream of similar warnings. tenant is a known tenant's id,
// or "" for callbacks no tenant owns (unknown tenants, bad paths): those
// ids come from whoever reaches the port and must not grow the map.
type logKey struct{ tenant, kind string }

type logWindow struct {
	next       time.Time // the next line may be written from then
	suppressed int       // lines left out since the last one written
}

// logLimiter writes the first warning of a key at once, then at most one
// per logEvery, carrying the number left out in between.
type logLimiter struct {
	mu   sync.Mutex
	keys map[logKey]*logWindow
	now  func() time.Time // time.Now; tests set it
}

// allow reports whether a line for k may be written now and, if so, how
// many lines for k it stands for that were left out since the last one.
func (l *logLimiter) allow(k logKey) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.now != nil {
		now = l.now()
	}
	w := l.keys[k]
	if w == nil {
		if l.keys == nil {
			l.keys = make(map[logKey]*logWindow)
		}
		if len(l.keys) >= maxLogKeys {
			l.sweep(now)
		}
		w = &logWindow{}
		l.keys[k] = w
	}
	if now.Before(w.next) {
		w.suppressed++
		return false, 0
	}
	suppressed, w.suppressed, w.next = w.suppressed, 0, now.Add(logEvery)
	return true, suppressed
}

// sweep drops the windows that have passed; when none has (more keys than
// maxLogKeys within one window), it drops them all rather than grow: the
// cost is a few lines written early, never memory.
func (l *logLimiter) sweep(now time.Time) {
	for k, w := range l.keys {
		if !now.Before(w.next) {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= maxLogKeys {
		clear(l.keys)
	}
}
