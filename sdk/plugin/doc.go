// Package plugin is the Go SDK for imhook plugins: WebAssembly modules that
// answer OpenIM webhook callbacks inside imhook's sandbox.
//
// A plugin is a main package that registers one typed handler per OpenIM
// command in init and has an empty main:
//
//	package main
//
//	import (
//		"strings"
//
//		"github.com/imhook/imhook/sdk/openim"
//		"github.com/imhook/imhook/sdk/plugin"
//	)
//
//	func init() {
//		plugin.OnBeforeSendSingleMsg(beforeSend)
//	}
//
//	func beforeSend(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
//		if strings.Contains(req.Content, "spam") {
//			return plugin.Stop[openim.BeforeSendSingleMsgResp](20001, "message blocked"), nil
//		}
//		return nil, nil // no reply: imhook answers the neutral "continue" reply
//	}
//
//	func main() {}
//
// Build it as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o myplugin.wasm .
//
// and test it natively with plain go test through package sdktest, which runs
// the same dispatch code as the WebAssembly exports.
//
// # Handlers
//
// The On<Command> functions (one per OpenIM command, in zhandlers.go) register
// a handler taking the decoded request and returning the typed reply. A handler
// returns:
//
//   - nil, nil: no reply; imhook answers the command's neutral reply (let the
//     operation continue unchanged). This is the cheapest answer.
//   - a reply, nil: the reply is encoded and sent to OpenIM. Use Stop to
//     refuse the operation, Continue for an explicit neutral reply, or fill the
//     command-specific fields (for example the content of
//     openim.BeforeMsgModifyResp) to change it.
//   - anything, err: the call fails with err's message and imhook applies the
//     tenant's failure policy for the command. A handler that panics is treated
//     the same way, with the message "plugin: handler for <command> panicked: ...".
//
// Registering two handlers for one command panics at start-up.
//
// # What a plugin may not do
//
// The sandbox grants no file system, no environment variables, no network and
// no subprocesses; the clock and random source are the host's choice (by
// default a fake clock and a deterministic seed). Use Context.Config for
// settings and Context.Log for output; anything written to stdout or stderr
// is discarded or truncated by the host.
//
// # Concurrency
//
// imhook runs one call at a time per instance, so handlers need no locking for
// package state of their own within one instance; instances never share memory.
// Natively, sdktest may run calls concurrently (t.Parallel), so keep shared
// state either read-only after init or behind a sync.Mutex (as Setting does).
package plugin
