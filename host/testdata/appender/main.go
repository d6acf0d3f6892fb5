// Command appender is a test plugin for plugin chains: on
// callbackBeforeMsgModifyCommand it appends "!" to the text of the message it
// is shown. Two in a row turn "hi" into "hi!!" only if the second one sees the
// first one's modification, which is what the host's chain promises.
package main

import (
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/plugin/textmsg"
)

func init() {
	plugin.OnBeforeMsgModify(func(_ *plugin.Context, req *openim.BeforeMsgModifyReq) (*openim.BeforeMsgModifyResp, error) {
		text, err := textmsg.Parse(req.Content)
		if err != nil {
			return nil, err
		}
		return openim.ModifyContent(textmsg.Encode(text + "!")), nil
	})
}

func main() {}
