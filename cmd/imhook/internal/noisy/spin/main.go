// Command spin is a noisy neighbour of imhook bench --neighbour, scenario
// (d): a Go SDK plugin whose before-send handlers spin forever, so every call
// burns its whole instruction budget and ends in cpu_time. Built with
// make bench-guests (build/guests/spin.wasm).
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnBeforeSendSingleMsg(func(*plugin.Context, *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		spin()
		return nil, nil
	})
	plugin.OnBeforeSendGroupMsg(func(*plugin.Context, *openim.BeforeSendGroupMsgReq) (*openim.BeforeSendGroupMsgResp, error) {
		spin()
		return nil, nil
	})
}

// sink keeps the loop's work observable, so the compiler cannot drop it.
var sink uint64

// spin never returns.
func spin() {
	for i := uint64(1); ; i++ {
		sink += i
	}
}

func main() {}
