//go:build !wasip1

package plugin_test

import (
	"fmt"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func ExampleStop() {
	r := plugin.Stop[openim.BeforeAddFriendResp](20002, "say hello first")
	fmt.Println(string(r.AppendJSON(nil)))
	// Output: {"actionCode":0,"errCode":20002,"errMsg":"say hello first","errDlt":"","nextCode":1}
}

func ExampleContinue() {
	req := &openim.BeforeMsgModifyReq{ContentType: 101, Content: `{"content":"hello"}`}
	r := plugin.Continue[openim.BeforeMsgModifyResp](req)
	r.Content = openim.String(`{"content":"h***o"}`)
	fmt.Println(plugin.Stopped(r), *r.Content)
	// Output: false {"content":"h***o"}
}

func ExampleSplitList() {
	fmt.Printf("%q\n", plugin.SplitList(" spam, scam ,,"))
	// Output: ["spam" "scam"]
}

// The example's handler is registered by init, as in a plugin's main package.
func init() {
	plugin.OnAfterGroupMsgRead(func(c *plugin.Context, req *openim.AfterGroupMsgReadReq) (*openim.AfterGroupMsgReadResp, error) {
		c.Info("group read", "reader", req.SendID, "has_read_seq", req.UnreadMsgNum)
		return nil, nil
	})
}

func ExampleHandle() {
	host := &plugin.Host{Log: func(level abi.LogLevel, line string) { fmt.Println(level, line) }}
	reply, err := plugin.Handle(host, "callbackAfterGroupMsgReadCommand",
		[]byte(`{"sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}`))
	fmt.Println(reply == nil, err)
	// Output:
	// info group read reader=user_b has_read_seq=42
	// true <nil>
}
