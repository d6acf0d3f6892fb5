package plugins

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/sdk/abi"
)

// KV is a tenant's key-value state, as the kv_* host functions use it. The
// host injects it through SandboxOptions.KV already bound to the tenant (a
// *state.Tenant): keys are relative to the tenant's own keyspace, so no key
// a guest passes reaches another tenant's. Errors that carry a status
// (a Status() abi.Status method) reach the guest as that status; a context
// that ended is StatusTimeout, anything else StatusUnavailable.
//
// A KV may also have QuotaExceeded() (counted when a call goes over
// max_kv_ops) and LocalReads() bool (true when Get and List do not block, so
// the call keeps its CPU slot for them).
type KV interface {
	Get(ctx context.Context, key []byte) (value []byte, rev uint64, err error)
	Set(ctx context.Context, key, value []byte, ttl time.Duration) (rev uint64, err error)
	CompareAndSet(ctx context.Context, key, value []byte, rev uint64, ttl time.Duration) (newRev uint64, err error)
	Delete(ctx context.Context, key []byte) error
	Add(ctx context.Context, key []byte, delta int64, ttl time.Duration) (int64, error)
	List(ctx context.Context, prefix, cursor []byte, limit int) (keys [][]byte, next []byte, err error)
}

// hostKVCost covers one state operation's bookkeeping: finding the
// tenant's keyspace, a store transaction or round trip's CPU, copies. Bytes
// of keys, values and output cost one each on top. The wall-clock time of a
// round trip is not billed: the call gives its CPU slot up for it (offCPU).
const hostKVCost = 10_000

// kvRate is what the kv_* rows bill on top of hostKVCost.
var kvRate = []rate{{1, "byte of key, value and output"}}

// kv returns the tenant's state for one operation, or fails the call's
// host function: no state configured (unavailable), or the call's
// operations spent (quota).
func (c hostCall) kv() (KV, bool) {
	kv := c.i.p.t.state.Load().kv
	if kv == nil {
		c.fail(abi.StatusUnavailable, errors.New("this server has no state store for the tenant (imhook run: --kv-file or --kv-memory)"))
		return nil, false
	}
	if c.i.kvOps++; c.i.kvOps > c.i.p.lim.MaxKVOps {
		if q, ok := kv.(interface{ QuotaExceeded() }); ok {
			q.QuotaExceeded()
		}
		c.fail(abi.StatusQuota, fmt.Errorf("%d state operations in one call > max_kv_ops[%d]: do less per callback (keep a counter or a list in one value), or ask the operator for more", c.i.kvOps, c.i.p.lim.MaxKVOps))
		return nil, false
	}
	return kv, true
}

// kvDo runs one store operation. A read of a store whose reads are local
// runs in place; anything else may block (a Redis round trip, a bbolt
// commit waiting for the writer and the disk), so it runs off the CPU
// slot and within the call's timeout (and its caller's deadline).
func (c hostCall) kvDo(kv KV, read bool, op func(ctx context.Context) error) error {
	ctx := c.i.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	if read {
		if l, ok := kv.(interface{ LocalReads() bool }); ok && l.LocalReads() {
			return op(ctx)
		}
	}
	var err error
	c.i.offCPU(c.f.name, func() {
		// The operation ends at the call's timeout or the caller's
		// deadline, whichever comes first; a timer of our own (about a
		// microsecond) is made only when the timeout does. The calls'
		// waits add up to at most max_kv_ops timeouts, within the
		// caller's deadline.
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.i.p.lim.CallTimeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.i.p.lim.CallTimeout)
			defer cancel()
		}
		err = op(ctx)
	})
	return err
}

// kvFail ends the host function with err's status and message.
func (c hostCall) kvFail(err error) {
	status := abi.StatusUnavailable
	var s interface{ Status() abi.Status }
	switch {
	case errors.As(err, &s):
		status = s.Status()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status = abi.StatusTimeout
		err = fmt.Errorf("the state store did not answer within the call's time: %w", err)
	}
	c.fail(status, err)
}

// ttl turns a guest's ttl_ms into a duration; ok is false (and the
// function failed) when it is negative or beyond a duration's range.
func (c hostCall) ttl(ms int64) (time.Duration, bool) {
	if ms < 0 || ms > int64(time.Duration(1<<62)/time.Millisecond) {
		c.fail(abi.StatusInvalid, fmt.Errorf("ttl_ms %d: want 0 (no expiry) or a positive number of milliseconds", ms))
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

func (c hostCall) writeU64(what string, ptr uint32, v uint64) {
	if ptr == 0 {
		return
	}
	if !c.m.Memory().WriteUint64Le(ptr, v) {
		c.i.stopGuest(KindBadReply, fmt.Errorf("%s: %s [%#x, +8) is outside guest memory", c.f.name, what, ptr))
	}
}

// hostKVGet implements abi.FuncKVGet:
// (keyPtr, keyLen, bufPtr, bufCap, revPtr i32) -> i32.
func hostKVGet(c hostCall) {
	s := c.stack
	keyLen := api.DecodeU32(s[1])
	bufPtr, bufCap, revPtr := api.DecodeU32(s[2]), api.DecodeU32(s[3]), api.DecodeU32(s[4])
	c.bill(uint64(keyLen))
	key := c.readCopy("key", api.DecodeU32(s[0]), keyLen)
	kv, ok := c.kv()
	if !ok {
		return
	}
	var val []byte
	var rev uint64
	err := c.kvDo(kv, true, func(ctx context.Context) (err error) {
		val, rev, err = kv.Get(ctx, key)
		return err
	})
	if err != nil {
		c.kvFail(err)
		return
	}
	c.i.hostEnter(c.f.name, uint64(len(val)))
	c.writeU64("rev_ptr", revPtr, rev)
	c.output(bufPtr, bufCap, val)
}

// hostKVSet implements abi.FuncKVSet:
// (keyPtr, keyLen, valPtr, valLen i32, ttlMs i64) -> i32.
func hostKVSet(c hostCall) {
	s := c.stack
	keyLen, valLen := api.DecodeU32(s[1]), api.DecodeU32(s[3])
	c.bill(uint64(keyLen) + uint64(valLen))
	key := c.readCopy("key", api.DecodeU32(s[0]), keyLen)
	val := c.readCopy("value", api.DecodeU32(s[2]), valLen)
	ttl, ok := c.ttl(int64(s[4]))
	if !ok {
		return
	}
	kv, ok := c.kv()
	if !ok {
		return
	}
	err := c.kvDo(kv, false, func(ctx context.Context) error {
		_, err := kv.Set(ctx, key, val, ttl)
		return err
	})
	if err != nil {
		c.kvFail(err)
		return
	}
	c.stack[0] = 0
}

// hostKVCompareAndSet implements abi.FuncKVCompareAndSet:
// (keyPtr, keyLen, valPtr, valLen i32, ttlMs, rev i64, revPtr i32) -> i32.
func hostKVCompareAndSet(c hostCall) {
	s := c.stack
	keyLen, valLen := api.DecodeU32(s[1]), api.DecodeU32(s[3])
	rev, revPtr := s[5], api.DecodeU32(s[6])
	c.bill(uint64(keyLen) + uint64(valLen))
	key := c.readCopy("key", api.DecodeU32(s[0]), keyLen)
	val := c.readCopy("value", api.DecodeU32(s[2]), valLen)
	ttl, ok := c.ttl(int64(s[4]))
	if !ok {
		return
	}
	kv, ok := c.kv()
	if !ok {
		return
	}
	var newRev uint64
	err := c.kvDo(kv, false, func(ctx context.Context) (err error) {
		newRev, err = kv.CompareAndSet(ctx, key, val, rev, ttl)
		return err
	})
	if err != nil {
		c.kvFail(err)
		return
	}
	c.writeU64("rev_ptr", revPtr, newRev)
	c.stack[0] = 0
}

// hostKVDelete implements abi.FuncKVDelete: (keyPtr, keyLen i32) -> i32.
func hostKVDelete(c hostCall) {
	s := c.stack
	keyLen := api.DecodeU32(s[1])
	c.bill(uint64(keyLen))
	key := c.readCopy("key", api.DecodeU32(s[0]), keyLen)
	kv, ok := c.kv()
	if !ok {
		return
	}
	if err := c.kvDo(kv, false, func(ctx context.Context) error { return kv.Delete(ctx, key) }); err != nil {
		c.kvFail(err)
		return
	}
	c.stack[0] = 0
}

// hostKVAdd implements abi.FuncKVAdd:
// (keyPtr, keyLen i32, delta, ttlMs i64, resultPtr i32) -> i32.
func hostKVAdd(c hostCall) {
	s := c.stack
	keyLen := api.DecodeU32(s[1])
	delta, resultPtr := int64(s[2]), api.DecodeU32(s[4])
	c.bill(uint64(keyLen))
	key := c.readCopy("key", api.DecodeU32(s[0]), keyLen)
	ttl, ok := c.ttl(int64(s[3]))
	if !ok {
		return
	}
	kv, ok := c.kv()
	if !ok {
		return
	}
	var n int64
	err := c.kvDo(kv, false, func(ctx context.Context) (err error) {
		n, err = kv.Add(ctx, key, delta, ttl)
		return err
	})
	if err != nil {
		c.kvFail(err)
		return
	}
	c.writeU64("result_ptr", resultPtr, uint64(n))
	c.stack[0] = 0
}

// hostKVList implements abi.FuncKVList:
// (prefixPtr, prefixLen, cursorPtr, cursorLen, limit, bufPtr, bufCap i32) -> i32.
// The output is the next page's cursor, then the keys, each as a 4-byte
// little-endian length and its bytes; an empty cursor means the last page.
func hostKVList(c hostCall) {
	s := c.stack
	prefixLen, cursorLen := api.DecodeU32(s[1]), api.DecodeU32(s[3])
	limit := int(api.DecodeI32(s[4]))
	bufPtr, bufCap := api.DecodeU32(s[5]), api.DecodeU32(s[6])
	c.bill(uint64(prefixLen) + uint64(cursorLen))
	prefix := c.readCopy("prefix", api.DecodeU32(s[0]), prefixLen)
	cursor := c.readCopy("cursor", api.DecodeU32(s[2]), cursorLen)
	if limit < 1 || limit > kvMaxList {
		c.fail(abi.StatusInvalid, fmt.Errorf("limit %d: want 1 to %d keys per page", limit, kvMaxList))
		return
	}
	kv, ok := c.kv()
	if !ok {
		return
	}
	var keys [][]byte
	var next []byte
	err := c.kvDo(kv, true, func(ctx context.Context) (err error) {
		keys, next, err = kv.List(ctx, prefix, cursor, limit)
		return err
	})
	if err != nil {
		c.kvFail(err)
		return
	}
	n := 4 + len(next)
	for _, k := range keys {
		n += 4 + len(k)
	}
	out := make([]byte, 0, n)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(next)))
	out = append(out, next...)
	for _, k := range keys {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
	}
	c.i.hostEnter(c.f.name, uint64(len(out)))
	c.output(bufPtr, bufCap, out)
}

// kvMaxList bounds one kv_list page (state.MaxListLimit).
const kvMaxList = 1000
