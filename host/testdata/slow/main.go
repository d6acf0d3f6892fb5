// Command slow is a test guest for the serving path's end-to-end tests: for
// callbackBeforeSendSingleMsgCommand it sleeps for the number of milliseconds
// in the message content ({"content":"nap:250"}) and then lets the message
// through. It needs the "nanotime" grant for the sleep to take real time.
// With -ldflags "-X main.version=N" the build differs per N, which gives a
// test two versions of one plugin.
//
// Built by the host tests with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

var version = "0"

func init() {
	plugin.OnBeforeSendSingleMsg(func(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		if _, ms, ok := strings.Cut(req.Content, "nap:"); ok {
			n, _ := strconv.Atoi(strings.TrimRight(ms, `"}`))
			time.Sleep(time.Duration(n) * time.Millisecond)
		}
		r := plugin.Continue[openim.BeforeSendSingleMsgResp](req)
		r.ErrMsg = "slow v" + version
		return r, nil
	})
}

func main() {}
