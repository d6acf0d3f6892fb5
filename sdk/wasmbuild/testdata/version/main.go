// Command version is the plugin package wasmbuild's tests build: it answers
// callbackBeforeSendSingleMsgCommand with the version set at link time by
// -ldflags "-X main.version=...".
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

var version = "unset"

func init() {
	plugin.OnBeforeSendSingleMsg(func(_ *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
		r := plugin.Continue[openim.BeforeSendSingleMsgResp](req)
		r.ErrMsg = "version " + version
		return r, nil
	})
}

func main() {}
