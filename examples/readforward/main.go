// Command readforward is an imhook plugin that forwards OpenIM's group read
// receipts to the tenant's own service, so the tenant's systems learn as
// soon as a user has read a group up to a message.
//
// For each callbackAfterGroupMsgReadCommand it POSTs one JSON event to the
// tenant's service_url, with "Authorization: Bearer <secret>" when
// token_secret names a tenant secret: imhook substitutes the secret into
// the header, so the plugin never holds it. It needs the "http" grant and
// service_url's origin in the tenant's egress_allow.
//
// A failed forward (the service unreachable, a non-2xx answer) fails the
// call with a message saying why: OpenIM ignores replies to after-callbacks
// whatever they are, so the failure costs the user nothing, and imhook
// counts and logs it for the tenant.
//
// Each forwarded receipt is also counted in the tenant's key-value state
// (grant "kv"): "reads:<reader>" per reader and "reads" in all, so that on
// several replicas sharing Redis every replica counts into the same keys.
// OpenIM's callback carries no group ID, so a count per group is not
// possible from it. The setting counters=off keeps no counters.
//
// See README.md for the configuration and examples.
package main

import (
	"errors"
	"strconv"
	"strings"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

func init() {
	plugin.OnAfterGroupMsgRead(groupRead)
}

func main() {}

// serviceURL is where events go, from the tenant's "service_url" value.
var serviceURL = plugin.NewSetting("service_url", func(raw string, ok bool) (string, error) {
	if !ok || raw == "" {
		return "", errors.New(`not set; set it to the tenant's service, such as "https://api.example.com/imhook/read"`)
	}
	if !strings.HasPrefix(raw, "https://") && !strings.HasPrefix(raw, "http://") {
		return "", errors.New(`want an http:// or https:// URL; got "` + raw + `"`)
	}
	return raw, nil
})

// authorization is the Authorization header value, from the tenant's
// "token_secret" value: the name of the secret holding the service's
// token; empty sends no Authorization.
var authorization = plugin.NewSetting("token_secret", func(raw string, ok bool) (string, error) {
	if raw == "" {
		return "", nil
	}
	return "Bearer {{secret:" + raw + "}}", nil
})

// readEvent is one read receipt as the tenant's service receives it.
//
// OpenIM's field names do not mean what they say in this callback: sendID
// is the reader, unreadMsgNum the new has-read seq and contentType the
// conversation type (3 for a group); OpenIM sends no group ID.
type readEvent struct {
	Reader           string
	HasReadSeq       int64
	ConversationType int64
}

func groupRead(c *plugin.Context, req *openim.AfterGroupMsgReadReq) (*openim.AfterGroupMsgReadResp, error) {
	ev := readEvent{Reader: req.SendID, HasReadSeq: req.UnreadMsgNum, ConversationType: req.ContentType}
	if err := forward(c, ev); err != nil {
		return nil, err
	}
	count(c, ev)
	return nil, nil
}

// counting is the tenant's "counters" value: on (the default) or off.
var counting = plugin.NewSetting("counters", func(raw string, ok bool) (bool, error) {
	switch raw {
	case "", "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New(`want "on" or "off"; got "` + raw + `"`)
})

// count adds a forwarded receipt to the reader's counter and the total. A
// counter that cannot be written (a quota, the store unavailable) is
// logged, not failed: the receipt reached the service, and failing would
// forward it again. Counting is at least once, as delivery is: a receipt
// redelivered after a crash may count twice.
func count(c *plugin.Context, ev readEvent) {
	if on, err := counting.Get(c); err != nil || !on {
		if err != nil {
			c.Log(abi.LogWarn, "readforward: counters: "+err.Error())
		}
		return
	}
	kv := c.KV()
	for _, key := range [2]string{"reads:" + ev.Reader, "reads"} {
		if _, err := kv.Add(key, 1, 0); err != nil {
			c.Log(abi.LogWarn, "readforward: counter "+key+" not counted: "+err.Error())
			return
		}
	}
}

// forward POSTs ev to the tenant's service.
func forward(c *plugin.Context, ev readEvent) error {
	url, err := serviceURL.Get(c)
	if err != nil {
		return err
	}
	auth, err := authorization.Get(c)
	if err != nil {
		return err
	}
	// One slice for both fields and one buffer for the event: every
	// allocation costs the guest about a thousand instructions.
	req := plugin.Request{Method: "POST", URL: url, Body: ev.appendJSON(make([]byte, 0, 128)),
		Header: append(make(plugin.Header, 0, 2), [2]string{"Content-Type", "application/json"})}
	if auth != "" {
		req.Header.Add("Authorization", auth)
	}
	resp, err := c.HTTP().Do(&req)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errors.New("readforward: the service answered " + strconv.Itoa(resp.StatusCode) + " to the read event of " + ev.Reader)
	}
	return nil
}

// appendJSON appends ev as {"event":"group_read","reader":...,...}.
func (ev readEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"event":"group_read","reader":`...)
	b = appendString(b, ev.Reader)
	b = append(b, `,"has_read_seq":`...)
	b = strconv.AppendInt(b, ev.HasReadSeq, 10)
	b = append(b, `,"conversation_type":`...)
	b = strconv.AppendInt(b, ev.ConversationType, 10)
	return append(b, '}')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
