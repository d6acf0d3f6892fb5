package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/sdk/abi"
)

// Delivery is one delivery of a queued event, as the plugins it runs see it
// (abi.FuncDelivery) and as they answer it (abi.FuncRetry). The host puts it
// in the context of Plugin.Call with WithDelivery; the sandbox knows nothing
// else of the queue.
type Delivery struct {
	// ID is the event's stable ID; Attempt is 1 for the first delivery.
	ID      string
	Attempt int

	retry   atomic.Bool
	afterMS atomic.Int64
}

// RetryAsked reports whether a plugin asked for a retry during the
// delivery, and the least delay it asked for (0: the queue's backoff).
func (d *Delivery) RetryAsked() (bool, time.Duration) {
	return d.retry.Load(), time.Duration(d.afterMS.Load()) * time.Millisecond
}

// deliveryKey is the context key of WithDelivery.
type deliveryKey struct{}

// WithDelivery returns a context whose plugin calls are deliveries of d:
// abi.FuncDelivery describes d, abi.FuncRetry marks it. Without it those
// functions answer abi.StatusNotFound.
func WithDelivery(ctx context.Context, d *Delivery) context.Context {
	return context.WithValue(ctx, deliveryKey{}, d)
}

// delivery returns the running call's Delivery, or nil.
func (c hostCall) delivery() *Delivery {
	if c.i.ctx == nil {
		return nil
	}
	d, _ := c.i.ctx.Value(deliveryKey{}).(*Delivery)
	return d
}

var errNoDelivery = errors.New("this call is not a queued delivery (an inline callback or a dry run): there is nothing to describe or retry")

// maxRetryDelay bounds what a guest may ask for; the queue caps it further
// (queue.max_backoff).
const maxRetryDelay = 24 * time.Hour

// hostDelivery implements abi.FuncDelivery: (bufPtr i32, bufCap i32) -> i32.
func hostDelivery(c hostCall) {
	bufPtr, bufCap := api.DecodeU32(c.stack[0]), api.DecodeU32(c.stack[1])
	d := c.delivery()
	if d == nil {
		c.bill(0)
		c.fail(abi.StatusNotFound, errNoDelivery)
		return
	}
	out := make([]byte, abi.DeliveryHeader, abi.DeliveryHeader+len(d.ID))
	binary.LittleEndian.PutUint32(out, uint32(d.Attempt))
	out = append(out, d.ID...)
	c.bill(uint64(len(out)))
	c.output(bufPtr, bufCap, out)
}

// hostRetry implements abi.FuncRetry: (delayMs i64) -> i32.
func hostRetry(c hostCall) {
	delay := int64(c.stack[0])
	c.bill()
	d := c.delivery()
	switch {
	case d == nil:
		c.fail(abi.StatusNotFound, errNoDelivery)
		return
	case delay < 0:
		c.fail(abi.StatusInvalid, errors.New("negative delay; pass 0 for the queue's backoff"))
		return
	}
	d.afterMS.Store(min(delay, maxRetryDelay.Milliseconds()))
	d.retry.Store(true)
	c.stack[0] = api.EncodeI32(0)
}
