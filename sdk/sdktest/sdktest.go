//go:build !wasip1

package sdktest

import (
	"maps"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
)

// Line is one log line a handler wrote.
type Line struct {
	Level abi.LogLevel
	Text  string // the formatted line, for example `group read group=g1 seq=42`
}

// Harness stands in for imhook in a test: it holds the tenant configuration
// values handlers see and records the lines they log.
//
// A Harness is safe for concurrent use.
type Harness struct {
	t    testing.TB
	host plugin.Host

	mu   sync.Mutex
	logs []Line
	// Out-calls (http.go).
	allowed []string
	client  *http.Client
	retries []time.Duration // delivery.go
}

// New returns a Harness with the given configuration values (nil for none).
// The map is copied. Log lines are recorded (see Logs) and also written to
// t.Log, so go test -v shows them.
func New(t testing.TB, config map[string]string) *Harness {
	t.Helper()
	h := &Harness{t: t}
	h.host = plugin.Host{Config: maps.Clone(config), Log: h.record}
	return h
}

func (h *Harness) record(level abi.LogLevel, line string) {
	h.mu.Lock()
	h.logs = append(h.logs, Line{Level: level, Text: line})
	h.mu.Unlock()
	h.t.Logf("plugin log: %s %s", level, line)
}

// Call runs the handler registered for the OpenIM command named command (as
// OpenIM names it, for example "callbackBeforeSendSingleMsgCommand") on the JSON
// request body, and returns what imhook would receive: the JSON reply, nil for
// "no reply" (imhook answers the neutral reply), or the error message of a
// failed call (bad request JSON, handler error, panic, unregistered command).
func (h *Harness) Call(command string, body []byte) ([]byte, error) {
	return plugin.Handle(&h.host, command, body)
}

// Logs returns the lines logged so far, oldest first.
func (h *Harness) Logs() []Line {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.logs)
}

// Call runs a handler like Harness.Call, with no configuration values.
func Call(t testing.TB, command string, body []byte) ([]byte, error) {
	t.Helper()
	return New(t, nil).Call(command, body)
}

// Do encodes req in the wire format, as imhook sends it to a plugin built
// with this SDK, runs the handler registered for its command and decodes the
// reply into an R:
//
//	resp, err := sdktest.Do[openim.BeforeAddFriendResp](h, &openim.BeforeAddFriendReq{FromUserID: "u1"})
//
// resp is nil when the handler gave no reply (imhook answers the neutral
// reply); err is the call's error. A reply that does not decode as R, or whose
// command differs from req's, fails the test: that is a bug, not a result.
func Do[R any, P plugin.ReplyPtr[R]](h *Harness, req openim.Request) (P, error) {
	h.t.Helper()
	cmd := req.Command()
	r := P(new(R))
	if r.Command() != cmd {
		h.t.Fatalf("sdktest: Do[%T] with a %s request: that reply type belongs to %s", r, cmd, r.Command())
	}
	// imhook sends a plugin built with this SDK the request it parsed in the
	// wire format (abi.InputWire); Call covers the JSON path.
	reply, err := plugin.HandleWire(&h.host, cmd.String(), req.AppendWire(nil))
	if err != nil || reply == nil {
		return nil, err
	}
	if err := r.DecodeJSON(reply); err != nil {
		h.t.Fatalf("sdktest: reply to %s does not decode as %T: %v\nreply: %s", cmd, r, err, reply)
	}
	return r, nil
}
