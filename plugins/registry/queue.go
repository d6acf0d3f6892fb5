package registry

import "fmt"

// Bounds of QueueSettings.
const (
	MaxQueueDepth    = 1_000_000
	MaxQueueAttempts = 100
)

// QueueSettings say how a tenant's after-callbacks run. The zero value
// queues them with the server's defaults (queue.max_depth,
// queue.max_attempts).
type QueueSettings struct {
	// Inline runs after-callbacks before answering OpenIM, as before-callbacks
	// run, instead of answering once they are queued: a slow plugin then
	// makes OpenIM's own queue drop events, and a crash loses the callback.
	Inline bool `json:"inline,omitempty"`
	// MaxDepth bounds the tenant's pending after-callbacks; past it a
	// callback is refused with 503. It bounds its dead letters too (the
	// oldest are discarded). 0 is the server's queue.max_depth.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxAttempts bounds the deliveries of one event, the first included,
	// before it becomes a dead letter. 0 is the server's queue.max_attempts.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

func (q *QueueSettings) validate() error {
	if q.MaxDepth < 0 || q.MaxDepth > MaxQueueDepth {
		return fmt.Errorf("queue.max_depth[%d]: want 0 (the server's queue.max_depth) to %d: %w", q.MaxDepth, MaxQueueDepth, ErrInvalid)
	}
	if q.MaxAttempts < 0 || q.MaxAttempts > MaxQueueAttempts {
		return fmt.Errorf("queue.max_attempts[%d]: want 0 (the server's queue.max_attempts) to %d: %w", q.MaxAttempts, MaxQueueAttempts, ErrInvalid)
	}
	return nil
}
