package console

import "testing"

// TestSessionsOneTenantCannotEvictOthers: a tenant logging in over and over
// (each login is a new session) neither logs the operator nor another
// tenant out, and keeps at most maxPerPrincipal sessions itself.
func TestSessionsOneTenantCannotEvictOthers(t *testing.T) {
	ss := newSessions()
	op := ss.create("operator-token", "operator", "")
	other := ss.create("b.token", "tenant", "b")
	var last *session
	for range 2 * maxSessions {
		last = ss.create("a.token", "tenant", "a")
	}
	n := 0
	for _, s := range ss.byID {
		if s.tenant == "a" {
			n++
		}
	}
	if n > maxPerPrincipal {
		t.Errorf("tenant a holds %d sessions, want at most %d", n, maxPerPrincipal)
	}
	for _, s := range []*session{op, other, last} {
		if ss.byID[s.id] != s {
			t.Errorf("the %s/%s session was evicted by tenant a's logins", s.role, s.tenant)
		}
	}
}

// TestSessionsGlobalBound: with more principals than the bound allows at
// their cap, the store stays within maxSessions, evicting from the
// principal that holds the most.
func TestSessionsGlobalBound(t *testing.T) {
	ss := newSessions()
	op := ss.create("operator-token", "operator", "")
	for i := range maxSessions/maxPerPrincipal + 2 {
		tenant := string(rune('A'+i%26)) + string(rune('a'+i/26))
		for range maxPerPrincipal {
			ss.create(tenant+".token", "tenant", tenant)
			if len(ss.byID) > maxSessions {
				t.Fatalf("%d sessions, want at most %d", len(ss.byID), maxSessions)
			}
		}
	}
	if ss.byID[op.id] != op {
		t.Error("the operator's single session was evicted")
	}
}
