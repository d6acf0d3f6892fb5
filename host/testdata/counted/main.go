// Command counted is a test guest for the queue's crash tests: for
// callbackAfterSendSingleMsgCommand whose content starts with "nap:MS" it
// records that the attempt started, then sleeps MS milliseconds (needs the
// nanotime grant); then it counts the delivery in the tenant's state (needs
// the kv grant):
//
//	s:<attempt>:<content>  "1" once that attempt started (nap: only)
//	ev:<event ID>          a counter, +1 per delivery that got this far
//	c:<content>            the event ID of that content's event
//
// The crash tests read these keys from the state file after the last run:
// a count that survives kill -9 and is exact, where log lines can be cut.
package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnAfterSendSingleMsg(func(c *plugin.Context, req *openim.AfterSendSingleMsgReq) (*openim.AfterSendSingleMsgResp, error) {
		d, _ := c.Delivery()
		content := req.Content
		kv := c.KV()
		if ms, ok := strings.CutPrefix(content, "nap:"); ok {
			// Log lines leave with the call; the state is written now.
			if err := kv.Set("s:"+strconv.Itoa(d.Attempt)+":"+content, []byte("1"), 0); err != nil {
				return nil, plugin.Retry(err)
			}
			ms, _, _ = strings.Cut(ms, " ") // "nap:20 anything"
			n, _ := strconv.Atoi(ms)
			time.Sleep(time.Duration(n) * time.Millisecond)
		}
		if err := kv.Set("c:"+content, []byte(d.ID), 0); err != nil {
			return nil, plugin.Retry(err)
		}
		if _, err := kv.Add("ev:"+d.ID, 1, 0); err != nil {
			return nil, plugin.Retry(err)
		}
		return nil, nil
	})
}

func main() {}
