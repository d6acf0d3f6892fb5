package plugin

import (
	"runtime"
	"strings"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// This file is built for every target: the WebAssembly exports
// (guest_wasip1.go) and the native test entry point (native.go) both go
// through instance.handle, so native tests exercise the real dispatch.

// handlerFunc decodes a request body (JSON, or the wire format when wire is
// true), runs the author's typed handler and returns its reply. The
// On<Command> functions in zhandlers.go build one.
type handlerFunc func(c *Context, body []byte, wire bool) (openim.Reply, error)

// entry is one registered command.
type entry struct {
	cmd  openim.Command
	name string // cmd.String(), kept to compare against the wire name
	h    handlerFunc
}

// handlers holds the registered commands in registration order. It is written
// only by init functions (through the On<Command> functions) and read-only
// afterwards. A plugin handles few commands, so a linear scan comparing names
// is faster than a map and needs no string conversion of the input.
var handlers []entry

// register adds h as the handler for cmd. It is called by the generated
// On<Command> functions, from init.
//
// It panics when cmd already has a handler or h is nil: both are programming
// errors that must stop the plugin from starting rather than silently drop a
// handler.
func register(cmd openim.Command, h handlerFunc) {
	name := cmd.String()
	if h == nil {
		panic("plugin: nil handler for " + name)
	}
	for _, e := range handlers {
		if e.cmd == cmd {
			panic("plugin: a handler for " + name + " is already registered; register each command once")
		}
	}
	handlers = append(handlers, entry{cmd: cmd, name: name, h: h})
}

// Commands returns the OpenIM command names the plugin has handlers for, in
// registration order. It is what the plugin reports to imhook when loaded
// (abi.FuncCommands); imhook never calls the plugin for other commands.
func Commands() []string {
	names := make([]string, len(handlers))
	for i, e := range handlers {
		names[i] = e.name
	}
	return names
}

// commandList returns Commands joined with abi.CommandSeparator.
func commandList() string {
	return strings.Join(Commands(), string(rune(abi.CommandSeparator)))
}

// lookup returns the entry for the command named by name, or nil.
func lookup(name []byte) *entry {
	for i := range handlers {
		if equalName(handlers[i].name, name) {
			return &handlers[i]
		}
	}
	return nil
}

// instance is the state of one plugin instance: the Context passed to
// handlers and the output buffer replies and error messages are written to.
// The WebAssembly build keeps one for the life of the module; native calls
// make one per call.
type instance struct {
	ctx Context
	out []byte
}

// handle runs the handler for command on body (in the wire format when wire
// is true, JSON otherwise). It returns the bytes to hand
// back to the host and whether they are an error message. A nil result with
// isErr false means "no reply" (the host answers the neutral reply).
//
// The result aliases in.out and is valid until the next call. Handler errors
// and panics are turned into messages here, so nothing escapes to the caller.
func (in *instance) handle(command, body []byte, wire bool) (res []byte, isErr bool) {
	e := lookup(command)
	if e == nil {
		b := append(in.out[:0], "plugin: no handler for command["...)
		b = append(b, command...)
		b = append(b, "]; this plugin handles ["...)
		b = append(b, commandList()...)
		b = append(b, ']')
		in.out = b
		return b, true
	}
	in.ctx.cmd = e.cmd
	out, err := in.run(e, body, wire)
	if err != nil {
		b := append(in.out[:0], err.Error()...)
		in.out = b
		return b, true
	}
	if out == nil {
		return nil, false
	}
	in.out = out
	return out, false
}

// run calls the handler and encodes its reply into in.out, turning a panic in
// either step into an error. It returns nil bytes for "no reply".
func (in *instance) run(e *entry, body []byte, wire bool) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicked(&in.ctx, e.name, r)
		}
	}()
	reply, err := e.h(&in.ctx, body, wire)
	if err != nil {
		if retryHook != nil { // delivery.go
			retryHook(&in.ctx, err)
		}
		return nil, &handlerError{command: e.name, err: err}
	}
	if reply == nil {
		return nil, nil
	}
	return reply.AppendJSON(in.out[:0]), nil
}

// handlerError is a handler's error as the host receives it.
type handlerError struct {
	command string
	err     error
}

func (e *handlerError) Error() string {
	return "plugin: handler for " + e.command + " failed: " + e.err.Error()
}

func (e *handlerError) Unwrap() error { return e.err }

// maxPanicStack bounds the stack trace logged when a handler panics, so one
// panic cannot use up the call's whole log allowance.
const maxPanicStack = 2 << 10

// panicked turns a recovered panic value into the call's error and logs the
// top of the goroutine's stack at error level: the message goes back to the
// host, the stack is only useful to the plugin's author.
func panicked(c *Context, command string, r any) error {
	var stack [maxPanicStack]byte
	n := runtime.Stack(stack[:], false)
	c.Log(abi.LogError, "handler panicked", "command", command, "stack", string(stack[:n]))
	return &panicError{command: command, value: panicValue(r)}
}

// panicValue formats a recovered value without package fmt.
func panicValue(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case stringer:
		return v.String()
	}
	if b := appendValue(nil, r); string(b) != "?" {
		return string(b)
	}
	return "(a value of a type without Error or String method)"
}

// panicError is a handler's panic as the host receives it.
type panicError struct {
	command string
	value   string
}

func (e *panicError) Error() string {
	return "plugin: handler for " + e.command + " panicked: " + e.value
}
