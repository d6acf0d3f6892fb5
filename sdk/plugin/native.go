//go:build !wasip1

package plugin

import (
	"bytes"
	"errors"
	"os"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// This file lets a plugin run natively, under go test, without WebAssembly.
// Package sdktest wraps it for tests; authors rarely need it directly.

// Host stands in for imhook when a plugin runs natively: it supplies the
// tenant configuration values and receives the log lines.
type Host struct {
	// Config holds the values Context.Config and Setting.Get return. A key
	// that is absent is "not set".
	Config map[string]string
	// Log receives each log line, as text: "msg k=v k2=v2". When nil, lines
	// are written to standard error as "<level> <line>". Concurrent Handle
	// calls sharing a Host call Log concurrently.
	Log func(level abi.LogLevel, line string)
	// HTTP sends out-calls (HTTPClient.Do), after the "{{secret:NAME}}"
	// references in header values are replaced from Secrets. Nil fails them
	// with ErrUnavailable. sdktest sets it (Harness.AllowHTTP). An error
	// that is not a *HostError is reported as ErrUnavailable.
	HTTP func(req *abi.HTTPRequest) (*abi.HTTPResponse, error)
	// Secrets holds the values Context.Secret returns.
	Secrets map[string]string
	// Delivery, when set, makes the call a delivery from imhook's queue
	// (Context.Delivery); OnRetry then receives a handler's request for a
	// retry (Retry, RetryAfter) with its delay.
	Delivery *Delivery
	OnRetry  func(after time.Duration)
	// KV is the tenant's state Context.KV reaches; nil answers
	// ErrUnavailable, as imhook does for a server without a state store.
	KV KVStore
}

func (h *Host) log(level abi.LogLevel, line []byte) {
	// imhook splits the pairs off at the separator; a reader wants a space.
	// line is the Context's scratch buffer, rewritten by every Log call.
	if i := bytes.IndexByte(line, abi.LogAttrSeparator); i >= 0 {
		line[i] = ' '
	}
	if h.Log != nil {
		h.Log(level, string(line))
		return
	}
	b := append([]byte(level.String()), ' ')
	b = append(b, line...)
	b = append(b, '\n')
	_, _ = os.Stderr.Write(b)
}

func (h *Host) config(key string, dst []byte) int {
	v, ok := h.Config[key]
	if !ok {
		return -1
	}
	if len(v) <= len(dst) {
		copy(dst, v)
	}
	return len(v)
}

// equalName reports whether name holds the bytes of s. The WebAssembly build
// has a faster version; natively Go's comparison is already fast.
func equalName(s string, name []byte) bool { return s == string(name) }

// Handle runs the handler registered for command on the JSON request body
// natively, through the same dispatch as the WebAssembly export imhook_handle:
// decode, handler, panic recovery, reply encoding. h may be nil (no
// configuration, logs to standard error).
//
// It returns the encoded JSON reply, or nil when the handler returned no reply
// (imhook would answer the command's neutral reply). The error carries the
// exact message imhook would receive: a decode failure, the handler's error, a
// panic, or an unregistered command.
//
// Handle is safe for concurrent use: each call gets its own Context.
func Handle(h *Host, command string, body []byte) ([]byte, error) {
	return handle(h, command, body, false)
}

// HandleWire is Handle for a request in the wire format, which is how imhook
// sends every callback to a plugin built with this SDK: encode it with the
// request's AppendWire. sdktest.Do goes through it.
func HandleWire(h *Host, command string, wire []byte) ([]byte, error) {
	return handle(h, command, wire, true)
}

func handle(h *Host, command string, body []byte, wire bool) ([]byte, error) {
	if h == nil {
		h = &Host{}
	}
	// Lay the input out as the host does, in one buffer.
	in := make([]byte, 0, len(command)+len(body))
	in = append(append(in, command...), body...)
	inst := &instance{ctx: Context{host: h}}
	res, isErr := inst.handle(in[:len(command)], in[len(command):], wire)
	if isErr {
		return nil, errors.New(string(res))
	}
	return res, nil
}

// batch is the WebAssembly build's request allocator; natively, where handlers
// may run concurrently and allocation is cheap, each request is its own.
type batch[T any] struct{}

func (*batch[T]) next() *T { return new(T) }
