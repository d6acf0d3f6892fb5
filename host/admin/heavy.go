package admin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// heavyGate admits uploads and dry runs, which compile or instantiate a
// module: a compile keeps two goroutines busy for up to the engine's compile
// deadline. At most heavySlots run at once, and at most one per tenant, so
// that one tenant's uploads cannot hold every slot. A request never queues
// for long: its tenant busy, it is answered 429 at once; no slot free within
// heavyWait, 503. Both carry Retry-After.
type heavyGate struct {
	slots chan struct{}
	wait  time.Duration

	mu   sync.Mutex
	busy map[string]struct{} // tenants with a heavy request running or waiting
}

// Admission of heavy requests (docs/admin-api.md, "Errors").
const (
	// heavySlots bounds the uploads and dry runs running at once.
	heavySlots = 2
	// heavyWait is how long a request waits for a slot before a 503: enough
	// for a running upload of a small module to finish, far less than a
	// client's timeout.
	heavyWait = 2 * time.Second
	// heavyRetryAfter is the Retry-After of both answers: a Go plugin
	// compiles in one to three seconds.
	heavyRetryAfter = 5 * time.Second
)

func newHeavyGate() *heavyGate {
	return &heavyGate{slots: make(chan struct{}, heavySlots), wait: heavyWait, busy: map[string]struct{}{}}
}

// enter admits a heavy request for tenant, or returns the *APIError that
// refuses it. The caller calls leave once done.
func (g *heavyGate) enter(ctx context.Context, tenant string) (leave func(), err error) {
	g.mu.Lock()
	if _, ok := g.busy[tenant]; ok {
		g.mu.Unlock()
		return nil, &APIError{Status: fasthttp.StatusTooManyRequests, RetryAfter: heavyRetryAfter,
			Message: "tenant[" + tenant + "] already has an upload or dry run in progress; send the next one when it has finished"}
	}
	g.busy[tenant] = struct{}{}
	g.mu.Unlock()
	done := func() {
		g.mu.Lock()
		delete(g.busy, tenant)
		g.mu.Unlock()
	}
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots; done() }, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	done()
	return nil, &APIError{Status: fasthttp.StatusServiceUnavailable, RetryAfter: heavyRetryAfter,
		Message: fmt.Sprintf("the server is running as many uploads and dry runs as it allows (%d, for all tenants); retry in a few seconds", heavySlots)}
}
