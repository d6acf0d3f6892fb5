//go:build !wasip1

package sdktest

import (
	"slices"
	"time"

	"github.com/imhook/imhook/sdk/plugin"
)

// Deliver makes the Harness's next calls deliveries from imhook's queue:
// handlers see d in Context.Delivery, and their requests for a retry
// (plugin.Retry, plugin.RetryAfter) are recorded (Retries). Deliver with a
// zero Delivery makes calls inline again.
//
//	h.Deliver(plugin.Delivery{ID: "0123456789abcdef0123456789abcdef", Attempt: 2})
func (h *Harness) Deliver(d plugin.Delivery) {
	if d == (plugin.Delivery{}) {
		h.host.Delivery, h.host.OnRetry = nil, nil
		return
	}
	h.host.Delivery = &d
	h.host.OnRetry = func(after time.Duration) {
		h.mu.Lock()
		h.retries = append(h.retries, after)
		h.mu.Unlock()
	}
}

// Retries returns the delays of the retries handlers asked for so far, one
// per failed call that asked (0: imhook's own backoff).
func (h *Harness) Retries() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.retries)
}
