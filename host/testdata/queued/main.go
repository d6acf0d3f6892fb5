// Command queued is a test guest for queued after-callbacks: for
// callbackAfterSendSingleMsgCommand it logs one line "delivered" with the
// delivery's event_id, attempt and whether it ran from the queue (queued),
// and the message content; then, as the content says:
//
//	"retry:N"   fails asking for a retry until attempt N, then succeeds
//	"retry"     fails asking for a retry, always
//	"fail"      fails without asking (a permanent failure)
//	"nap:MS"    sleeps MS milliseconds first (needs the nanotime grant);
//	            anything after a space is ignored
//
// The crash test counts deliveries by these log lines: the counting is the
// plugin's own doing.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnAfterSendSingleMsg(func(c *plugin.Context, req *openim.AfterSendSingleMsgReq) (*openim.AfterSendSingleMsgResp, error) {
		d, queued := c.Delivery()
		content := req.Content
		if ms, ok := strings.CutPrefix(content, "nap:"); ok {
			ms, _, _ = strings.Cut(ms, " ") // "nap:20 anything"
			n, _ := strconv.Atoi(ms)
			time.Sleep(time.Duration(n) * time.Millisecond)
		}
		c.LogAttrs(0, "delivered", plugin.String("event_id", d.ID), plugin.Int64("attempt", int64(d.Attempt)),
			plugin.Bool("queued", queued), plugin.String("content", content))
		switch {
		case content == "retry":
			return nil, plugin.Retry(errors.New("not yet"))
		case strings.HasPrefix(content, "retry:"):
			n, _ := strconv.Atoi(content[len("retry:"):])
			if d.Attempt < n {
				return nil, plugin.RetryAfter(10*time.Millisecond, errors.New("not yet, attempt "+strconv.Itoa(d.Attempt)))
			}
		case content == "fail":
			return nil, errors.New("bad input")
		}
		return nil, nil
	})
}

func main() {}
