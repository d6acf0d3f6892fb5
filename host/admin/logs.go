package admin

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenantlog"
)

// defaultFollowWindow is Options.FollowWindow when zero: under the admin
// listener's one-minute write timeout, which covers a whole response.
const defaultFollowWindow = 45 * time.Second

// heartbeatEvery is how often a follow stream without lines says it is
// alive, which also finds a client that went away.
const heartbeatEvery = 5 * time.Second

// LogEvent is one line of the body of GET .../logs (NDJSON, one JSON object
// per line): a log line, or, when Event is set, news about the stream.
type LogEvent struct {
	*tenantlog.Line
	// Event is "dropped" (Count lines were dropped because the client did
	// not read fast enough), "heartbeat" (the stream is alive), or "end"
	// (the stream ends; to resume, ask again with after=Next).
	Event string `json:"event,omitempty"`
	Count uint64 `json:"count,omitempty"`
	Next  uint64 `json:"next,omitempty"`
}

// getLogs serves a tenant's recent log lines as NDJSON, and with
// follow=true the lines that come after them, for at most followWindow.
func (a *API) getLogs(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	q := r.rc.QueryArgs()
	// Lines from before the tenant was created belong to an earlier tenant
	// of that name (one deleted on another replica).
	f := tenantlog.Filter{Plugin: string(q.Peek("plugin")), Command: string(q.Peek("command")), Since: t.CreatedAt}
	if lv := string(q.Peek("level")); lv != "" {
		var l slog.Level
		if l.UnmarshalText([]byte(lv)) != nil {
			return apiErrorf(fasthttp.StatusBadRequest, "level[%s]: want debug, info, warn or error", lv)
		}
		f.Level = l
	}
	num := func(name string) (uint64, error) {
		v := string(q.Peek(name))
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, apiErrorf(fasthttp.StatusBadRequest, "%s[%s]: want a whole number", name, v)
		}
		return n, nil
	}
	if f.After, err = num("after"); err != nil {
		return err
	}
	limit, err := num("limit")
	if err != nil {
		return err
	}
	if limit == 0 || limit > 10000 {
		limit = 10000
	}
	follow := q.GetBool("follow")
	r.rc.SetContentType("application/x-ndjson")
	r.rc.Response.Header.Set("Cache-Control", "no-store")
	if !follow {
		lines, _ := a.logs.Lines(r.tenant, f, int(limit))
		var b []byte
		next := f.After
		for i := range lines {
			b = appendEvent(b, LogEvent{Line: &lines[i]})
			next = lines[i].Seq
		}
		r.rc.SetBody(appendEvent(b, LogEvent{Event: "end", Next: next}))
		return nil
	}
	backlog, fl, err := a.logs.Follow(r.tenant, f, int(limit))
	switch {
	case errors.Is(err, tenantlog.ErrTooManyFollowers):
		return apiErrorf(fasthttp.StatusTooManyRequests, "tenant[%s]: too many log followers at once on this server; stop one (each ends within %s)", r.tenant, a.followWindow)
	case errors.Is(err, tenantlog.ErrClosed):
		return &APIError{Status: fasthttp.StatusServiceUnavailable, Message: "the server is shutting down; follow the logs again once it is back"}
	case err != nil:
		return err
	}
	window := a.followWindow
	r.rc.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer fl.Close()
		next := f.After
		var b []byte
		send := func(e LogEvent) bool {
			b = appendEvent(b[:0], e)
			if _, err := w.Write(b); err != nil {
				return false
			}
			return w.Flush() == nil
		}
		for i := range backlog {
			if !send(LogEvent{Line: &backlog[i]}) {
				return
			}
			next = backlog[i].Seq
		}
		end := time.NewTimer(window)
		defer end.Stop()
		beat := time.NewTicker(heartbeatEvery)
		defer beat.Stop()
		for {
			select {
			case l, ok := <-fl.C:
				if !ok {
					send(LogEvent{Event: "end", Next: next})
					return
				}
				if d := fl.Dropped(); d > 0 && !send(LogEvent{Event: "dropped", Count: d}) {
					return
				}
				if !send(LogEvent{Line: &l}) {
					return
				}
				next = l.Seq
			case <-beat.C:
				if d := fl.Dropped(); d > 0 && !send(LogEvent{Event: "dropped", Count: d}) {
					return
				}
				if !send(LogEvent{Event: "heartbeat"}) {
					return
				}
			case <-end.C:
				send(LogEvent{Event: "end", Next: next})
				return
			}
		}
	})
	return nil
}

// appendEvent appends e as one NDJSON line.
func appendEvent(b []byte, e LogEvent) []byte {
	j, err := json.Marshal(e)
	if err != nil {
		j = []byte(`{"event":"heartbeat"}`) // our own types always encode
	}
	return append(append(b, j...), '\n')
}
