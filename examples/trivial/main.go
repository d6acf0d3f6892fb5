// Command trivial is the smallest useful imhook plugin: it declares a few
// common commands and gives no reply to any of them, so imhook answers each
// with the command's neutral reply. It exists to measure what the host and the
// SDK cost around a handler that does nothing.
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnAfterGroupMsgRead(func(*plugin.Context, *openim.AfterGroupMsgReadReq) (*openim.AfterGroupMsgReadResp, error) {
		return nil, nil
	})
	plugin.OnBeforeSendSingleMsg(func(*plugin.Context, *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		return nil, nil
	})
	plugin.OnBeforeSendGroupMsg(func(*plugin.Context, *openim.BeforeSendGroupMsgReq) (*openim.BeforeSendGroupMsgResp, error) {
		return nil, nil
	})
	plugin.OnBeforeAddFriend(func(*plugin.Context, *openim.BeforeAddFriendReq) (*openim.BeforeAddFriendResp, error) {
		return nil, nil
	})
}

func main() {}
