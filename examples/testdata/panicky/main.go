// Command panicky is a test plugin for examples/wasm_test.go: its handler
// panics, fails or replies depending on the request, so the test can check
// the SDK's panic recovery inside WebAssembly, where native tests cannot.
package main

import (
	"errors"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnBeforeAddFriend(func(c *plugin.Context, req *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
		switch req.ReqMsg {
		case "panic":
			panic("boom")
		case "nil map":
			var m map[string]int
			m[req.FromUserID]++
		case "index":
			return nil, errors.New("out of range: " + req.ToUserID[:len(req.ToUserID)+int(c.Command())])
		case "error":
			return nil, errors.New("backend down")
		case "stop":
			return plugin.Stop[openim.BeforeAddFriendResp](7, "no"), nil
		}
		return nil, nil
	})
}

func main() {}
