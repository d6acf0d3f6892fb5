// Command kvbench is the guest of the state benchmarks: for
// callbackBeforeSendSingleMsgCommand it does what the message's content
// says, once, and gives no reply: "get" reads key "k", "add" adds 1 to
// counter "n", anything else nothing (the baseline call).
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func main() {}

func init() {
	plugin.OnBeforeSendSingleMsg(func(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		switch req.Content {
		case "get":
			if _, err := c.KV().Get("k"); err != nil {
				return nil, err
			}
		case "add":
			if _, err := c.KV().Add("n", 1, 0); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
}
