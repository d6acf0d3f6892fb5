// Package noisy holds the noisy neighbours of imhook bench --neighbour: the
// plugins a second tenant runs next to a well-behaved one, to measure how
// much one tenant's runaway or heavy code slows another's callbacks
// (docs/performance.md, "Neighbours"). Every one handles the before-send
// commands (callbackBeforeSendSingleMsgCommand and
// callbackBeforeSendGroupMsgCommand) the noisy tenant's load sends.
//
// The raw-ABI guests are embedded: Loop loops forever, Recursion computes a
// naive fib(90); both burn every call's whole instruction budget. The Go SDK
// guests are main packages built like the examples (make bench-guests, to
// build/guests/<name>.wasm): spin spins forever in its handlers, heavy burns
// about half the default budget (HeavyInstructions) and then lets the
// message through.
package noisy

import _ "embed" // for Loop and Recursion

// Loop is loop.wat compiled: a raw-ABI plugin that loops forever in
// imhook_handle.
//
//go:embed loop.wasm
var Loop []byte

// Recursion is recursion.wat compiled: a raw-ABI plugin whose handler
// recurses (a naive fib(90)) until its budget is spent.
//
//go:embed recursion.wasm
var Recursion []byte

// HeavyInstructions is roughly what one call of the heavy guest uses of its
// instruction budget (the default budget is 100 million): heavy but
// legitimate, it always replies.
const HeavyInstructions = 50_000_000

//go:generate wat2wasm loop.wat -o loop.wasm
//go:generate wat2wasm recursion.wat -o recursion.wasm
