//go:build !wasip1

package plugin

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/imhook/imhook/sdk/openim"
)

func TestDelivery(t *testing.T) {
	var seen []Delivery
	var asked []time.Duration
	saved := handlers
	t.Cleanup(func() { handlers = saved })
	handlers = nil
	OnAfterSendSingleMsg(func(c *Context, req *openim.AfterSendSingleMsgReq) (*openim.AfterSendSingleMsgResp, error) {
		d, ok := c.Delivery()
		if ok {
			seen = append(seen, d)
		}
		switch req.Content {
		case "retry":
			return nil, Retry(errors.New("service unavailable"))
		case "later":
			return nil, fmt.Errorf("wrapped: %w", RetryAfter(3*time.Second, errors.New("429")))
		case "fail":
			return nil, errors.New("bad input")
		}
		return nil, nil
	})
	h := &Host{OnRetry: func(d time.Duration) { asked = append(asked, d) }}
	body := func(content string) []byte {
		return fmt.Appendf(nil, `{"callbackCommand":"callbackAfterSendSingleMsgCommand","content":%q}`, content)
	}
	cmd := openim.AfterSendSingleMsg.String()

	// Inline: no delivery, and Retry asks nothing.
	if _, err := Handle(h, cmd, body("retry")); err == nil || len(seen) != 0 || len(asked) != 0 {
		t.Fatalf("inline: err %v, seen %v, asked %v", err, seen, asked)
	}
	h.Delivery = &Delivery{ID: "0123456789abcdef0123456789abcdef", Attempt: 2}
	if _, err := Handle(h, cmd, body("ok")); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != *h.Delivery {
		t.Fatalf("seen %v", seen)
	}
	if _, err := Handle(h, cmd, body("retry")); err == nil || err.Error() != "plugin: handler for callbackAfterSendSingleMsgCommand failed: service unavailable" {
		t.Fatalf("retry error %v", err)
	}
	if _, err := Handle(h, cmd, body("later")); err == nil {
		t.Fatal("later: no error")
	}
	if _, err := Handle(h, cmd, body("fail")); err == nil {
		t.Fatal("fail: no error")
	}
	if len(asked) != 2 || asked[0] != 0 || asked[1] != 3*time.Second {
		t.Fatalf("retries asked %v, want [0 3s]", asked)
	}
	if Retry(nil) != nil || RetryAfter(time.Second, nil) != nil {
		t.Fatal("Retry(nil) is not nil")
	}
}
