package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Session cookie and its bounds. The cookie holds only a random session ID;
// the token it maps to stays in this process's memory and never reaches a
// page, a URL or the browser's storage.
const (
	sessionCookie = "imhook_console"
	loginCookie   = "imhook_console_login" // the login form's CSRF value
	cookiePath    = "/console/"
	sessionTTL    = 12 * time.Hour
	// maxSessions bounds the sessions kept in memory, and maxPerPrincipal
	// one token's (the operator, or one tenant): past either, the oldest
	// session of the principal holding the most goes first, so that no
	// tenant logging in over and over can log the operator or another
	// tenant out.
	maxSessions     = 4096
	maxPerPrincipal = 32
)

// session is one logged-in browser.
type session struct {
	id      string
	token   string // the admin API bearer token: never rendered
	csrf    string // the value every form of this session posts back
	role    string // "operator" or "tenant"
	tenant  string // the token's tenant when role is "tenant"
	expires time.Time
	flash   string // a one-shot message for the next page
	flashOK bool
}

func (s *session) operator() bool { return s.role == "operator" }

// sessions are the logged-in browsers, in memory: a restart logs everyone
// out, which is what an operator expects of a restart.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
}

func newSessions() *sessions { return &sessions{byID: map[string]*session{}} }

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for token and returns it.
func (ss *sessions) create(token, role, tenant string) *session {
	s := &session{id: randomString(32), token: token, csrf: randomString(32), role: role, tenant: tenant,
		expires: time.Now().Add(sessionTTL)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	count := map[string]int{}
	for _, o := range ss.byID {
		count[o.principal()]++
	}
	switch {
	case count[s.principal()] >= maxPerPrincipal:
		ss.evictOldest(s.principal())
	case len(ss.byID) >= maxSessions:
		var most string
		for p, n := range count {
			if n > count[most] {
				most = p
			}
		}
		ss.evictOldest(most)
	}
	ss.byID[s.id] = s
	return s
}

// principal names whose token a session holds: the operator, or a tenant.
func (s *session) principal() string { return s.role + "/" + s.tenant }

// evictOldest ends principal's oldest session. The caller holds ss.mu.
func (ss *sessions) evictOldest(principal string) {
	var oldest *session
	for _, o := range ss.byID {
		if o.principal() == principal && (oldest == nil || o.expires.Before(oldest.expires)) {
			oldest = o
		}
	}
	if oldest != nil {
		delete(ss.byID, oldest.id)
	}
}

// get returns the request's live session, or nil.
func (ss *sessions) get(rc *fasthttp.RequestCtx) *session {
	id := string(rc.Request.Header.Cookie(sessionCookie))
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s != nil && time.Now().After(s.expires) {
		delete(ss.byID, id)
		return nil
	}
	return s
}

// drop ends a session.
func (ss *sessions) drop(s *session) {
	ss.mu.Lock()
	delete(ss.byID, s.id)
	ss.mu.Unlock()
}

// setFlash keeps a message for the session's next page; takeFlash reads and
// clears it.
func (ss *sessions) setFlash(s *session, msg string, ok bool) {
	ss.mu.Lock()
	s.flash, s.flashOK = msg, ok
	ss.mu.Unlock()
}

func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	msg, ok := s.flash, s.flashOK
	s.flash = ""
	return msg, ok
}

// setCookie sets an HttpOnly, SameSite=Strict cookie scoped to the console,
// Secure when the request came over TLS. maxAge 0 deletes it.
func setCookie(rc *fasthttp.RequestCtx, name, value string, maxAge time.Duration) {
	var c fasthttp.Cookie
	c.SetKey(name)
	c.SetValue(value)
	c.SetPath(cookiePath)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetSecure(rc.IsTLS())
	if maxAge > 0 {
		c.SetMaxAge(int(maxAge.Seconds()))
	} else {
		c.SetMaxAge(-1)
	}
	rc.Response.Header.SetCookie(&c)
}

// sameSecret compares two secrets in a time that does not depend on where
// they differ.
func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
