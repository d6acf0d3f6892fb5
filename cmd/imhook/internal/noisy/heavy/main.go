// Command heavy is a noisy neighbour of imhook bench --neighbour, scenario
// (e): a Go SDK plugin that is heavy but legitimate. Each before-send call
// burns about noisy.HeavyInstructions (half the default budget of 100
// million) in a loop, then lets the message through: it never fails, so the
// crash-loop breaker never opens and only the CPU share stands between it and
// its neighbour. Built with make bench-guests (build/guests/heavy.wasm).
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

// iterations of burn's loop; one iteration costs about 38 instructions once
// metered (calibrated with imhook run, which prints a call's instructions).
const iterations = 1_310_000

func init() {
	plugin.OnBeforeSendSingleMsg(func(*plugin.Context, *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		burn()
		return nil, nil
	})
	plugin.OnBeforeSendGroupMsg(func(*plugin.Context, *openim.BeforeSendGroupMsgReq) (*openim.BeforeSendGroupMsgResp, error) {
		burn()
		return nil, nil
	})
}

// sink keeps the loop's work observable, so the compiler cannot drop it.
var sink uint64

// burn runs a xorshift generator for iterations steps.
func burn() {
	x := sink | 1
	for range iterations {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink = x
}

func main() {}
