package plugins

import (
	"bytes"
	"fmt"

	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/sdk/abi"
)

// This file holds the convention every fallible host function follows
// (abi.FuncLastError): it returns a length or count, or a negative
// abi.Status with a message kept for last_error; output that does not fit
// the guest's buffer is kept for take_result rather than produced again.
// A failure the guest can handle never traps: traps are for ABI violations.

// maxErrorBytes bounds a kept error message: messages are host-written and
// short, and a guest must not be able to grow host memory through them.
const maxErrorBytes = 1024

// fail ends a host function with status, keeping err's message for
// last_error. The message is the host's own words: it must never carry a
// secret or another tenant's data.
func (c hostCall) fail(status abi.Status, err error) {
	msg := err.Error()
	if len(msg) > maxErrorBytes {
		msg = msg[:maxErrorBytes]
	}
	c.i.lastErr = fmt.Sprintf("%s: %s", c.f.name, msg)
	c.i.kept = nil
	c.stack[0] = api.EncodeI32(int32(status))
}

// output ends a host function with out: written at bufPtr when it fits in
// bufCap, kept for take_result when it does not; either way the result is
// its length. out must be the host's own copy (it may be kept).
func (c hostCall) output(bufPtr, bufCap uint32, out []byte) {
	c.i.kept = nil
	if uint32(len(out)) <= bufCap {
		c.write(bufPtr, out)
	} else {
		c.i.kept = out
	}
	c.stack[0] = api.EncodeI32(int32(len(out)))
}

// read returns the guest's bytes [ptr, ptr+n), stopping the guest when they
// are outside its memory. The slice aliases guest memory: copy what is kept.
func (c hostCall) read(what string, ptr, n uint32) []byte {
	b, ok := c.m.Memory().Read(ptr, n)
	if !ok {
		c.i.stopGuest(KindBadReply, fmt.Errorf("%s: %s [%#x, +%d) is outside guest memory", c.f.name, what, ptr, n))
	}
	return b
}

// readCopy is read for bytes handed to work that may outlive the host
// function: a store write whose ctx ended still runs on its own goroutine
// (boltstate), and may read them after the instance has run its next call
// or been closed, its memory unmapped (guestmem).
func (c hostCall) readCopy(what string, ptr, n uint32) []byte {
	return bytes.Clone(c.read(what, ptr, n))
}

// write copies b to the guest at ptr, stopping the guest when it does not
// fit in its memory.
func (c hostCall) write(ptr uint32, b []byte) {
	if !c.m.Memory().Write(ptr, b) {
		c.i.stopGuest(KindBadReply, fmt.Errorf("%s: buffer [%#x, +%d) is outside guest memory", c.f.name, ptr, len(b)))
	}
}

// hostLastError implements abi.FuncLastError: (bufPtr i32, bufCap i32) -> i32.
func hostLastError(c hostCall) {
	bufPtr, bufCap := api.DecodeU32(c.stack[0]), api.DecodeU32(c.stack[1])
	msg := c.i.lastErr
	c.bill(uint64(len(msg)))
	if uint32(len(msg)) <= bufCap {
		c.write(bufPtr, []byte(msg))
	}
	c.stack[0] = api.EncodeI32(int32(len(msg)))
}

// hostTakeResult implements abi.FuncTakeResult: (bufPtr i32, bufCap i32) -> i32.
func hostTakeResult(c hostCall) {
	bufPtr, bufCap := api.DecodeU32(c.stack[0]), api.DecodeU32(c.stack[1])
	out := c.i.kept
	c.bill(uint64(len(out)))
	switch {
	case out == nil:
		c.stack[0] = api.EncodeI32(int32(abi.StatusNotFound))
	case uint32(len(out)) > bufCap:
		c.stack[0] = api.EncodeI32(int32(abi.StatusInvalid)) // kept: retry with a larger buffer
	default:
		c.write(bufPtr, out)
		c.i.kept = nil
		c.stack[0] = api.EncodeI32(int32(len(out)))
	}
}
