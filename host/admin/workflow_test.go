package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/host/admin"
	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/tenantlog"
)

// TestWorkflowRoutesScoped: a tenant's logs and captures are its own: another
// tenant's token is refused on each route, and no token at all.
func TestWorkflowRoutesScoped(t *testing.T) {
	logs, cs := tenantlog.New(tenantlog.Options{}), capture.New(capture.Options{})
	e := setup(t, admin.Options{Logs: logs, Capture: cs})
	logs.Add("a", tenantlog.Line{Kind: tenantlog.KindLog, Message: "secret of a"})
	cs.Set("a", capture.Settings{Enabled: true})
	cs.Add("a", capture.Callback{Command: "callbackBeforeSendSingleMsgCommand", Reply: []byte(`{}`)}, []byte(singleMsg))
	for _, rt := range []struct{ method, path, body, ctype string }{
		{"GET", "/v1/tenants/a/logs", "", ""},
		{"GET", "/v1/tenants/a/logs?follow=true", "", ""},
		{"GET", "/v1/tenants/a/capture", "", ""},
		{"PUT", "/v1/tenants/a/capture", `{"enabled":false}`, "application/json"},
		{"DELETE", "/v1/tenants/a/capture", "", ""},
		{"POST", "/v1/tenants/a/capture/replay", "", ""},
	} {
		var body any
		if rt.body != "" {
			body = rt.body
		}
		r := e.b.do(rt.method, rt.path, body, rt.ctype).want(t, http.StatusForbidden)
		if strings.Contains(string(r.body), "secret") {
			t.Fatalf("%s %s leaked: %s", rt.method, rt.path, r.body)
		}
		e.anon.do(rt.method, rt.path, body, rt.ctype).want(t, http.StatusUnauthorized)
	}
	// Nothing changed for a.
	if st, kept, _ := cs.Get("a"); !st.Enabled || len(kept) != 1 {
		t.Fatalf("b changed a's capture: %+v %d", st, len(kept))
	}
	// The operator may read a's lines; b's own log is empty.
	r := e.op.do("GET", "/v1/tenants/a/logs", nil, "").want(t, http.StatusOK)
	if !strings.Contains(string(r.body), "secret of a") {
		t.Fatalf("operator reads %s", r.body)
	}
	r = e.b.do("GET", "/v1/tenants/b/logs", nil, "").want(t, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != `{"event":"end"}` {
		t.Fatalf("b reads %s", r.body)
	}
	e.b.do("GET", "/v1/tenants/nope/logs", nil, "").want(t, http.StatusForbidden)
	e.op.do("GET", "/v1/tenants/nope/logs", nil, "").want(t, http.StatusNotFound)
}

// events parses an NDJSON body.
func events(t *testing.T, body []byte) []admin.LogEvent {
	t.Helper()
	var out []admin.LogEvent
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var e admin.LogEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestLogs(t *testing.T) {
	logs := tenantlog.New(tenantlog.Options{MaxFollowers: 1})
	e := setup(t, admin.Options{Logs: logs, FollowWindow: 300 * time.Millisecond})
	logs.Add("a", tenantlog.Line{Kind: tenantlog.KindLog, Level: "debug", Plugin: "p", Command: "c1", Message: "one"})
	logs.Add("a", tenantlog.Line{Kind: tenantlog.KindFailure, Level: "warn", Plugin: "q", Command: "c2", Message: "two", Failure: "cpu_time"})
	ev := events(t, e.a.do("GET", "/v1/tenants/a/logs?level=debug", nil, "").want(t, http.StatusOK).body)
	if len(ev) != 3 || ev[0].Message != "one" || ev[1].Failure != "cpu_time" || ev[2].Event != "end" || ev[2].Next != 2 {
		t.Fatalf("events %+v", ev)
	}
	ev = events(t, e.a.do("GET", "/v1/tenants/a/logs?plugin=q", nil, "").body)
	if len(ev) != 2 || ev[0].Message != "two" {
		t.Fatalf("plugin=q: %+v", ev)
	}
	ev = events(t, e.a.do("GET", "/v1/tenants/a/logs", nil, "").body) // info and up by default
	if len(ev) != 2 || ev[0].Message != "two" {
		t.Fatalf("default level: %+v", ev)
	}
	e.a.do("GET", "/v1/tenants/a/logs?level=loud", nil, "").want(t, http.StatusBadRequest)
	e.a.do("GET", "/v1/tenants/a/logs?after=x", nil, "").want(t, http.StatusBadRequest)

	// Follow: the backlog after the cursor, the new line, then the end of
	// the window with the cursor to resume from.
	req, _ := http.NewRequestWithContext(context.Background(), "GET", e.srv.URL+"/v1/tenants/a/logs?follow=true&after=1&level=debug", nil)
	req.Header.Set("Authorization", "Bearer "+e.a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() admin.LogEvent {
		t.Helper()
		if !sc.Scan() {
			t.Fatalf("stream ended: %v", sc.Err())
		}
		var ev admin.LogEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := next(); ev.Message != "two" {
		t.Fatalf("backlog %+v", ev)
	}
	// One follower per tenant here: a second is refused at once.
	r := e.a.do("GET", "/v1/tenants/a/logs?follow=true", nil, "").want(t, http.StatusTooManyRequests)
	if !strings.Contains(r.errMsg(t), "too many log followers") {
		t.Fatalf("second follower: %s", r.body)
	}
	logs.Add("b", tenantlog.Line{Kind: tenantlog.KindLog, Message: "of b"})
	logs.Add("a", tenantlog.Line{Kind: tenantlog.KindLog, Message: "three"})
	if ev := next(); ev.Message != "three" || ev.Seq != 3 {
		t.Fatalf("followed %+v", ev)
	}
	for {
		ev := next()
		if ev.Event == "heartbeat" {
			continue
		}
		if ev.Event != "end" || ev.Next != 3 {
			t.Fatalf("end of window %+v", ev)
		}
		break
	}
}

func TestCaptureAndReplay(t *testing.T) {
	cs := capture.New(capture.Options{})
	e := setup(t, admin.Options{Capture: cs})
	var c admin.Capture
	e.a.do("GET", "/v1/tenants/a/capture", nil, "").want(t, http.StatusOK).decode(t, &c)
	if c.Settings.Enabled || len(c.Callbacks) != 0 {
		t.Fatalf("capture at first %+v", c)
	}
	r := e.a.do("PUT", "/v1/tenants/a/capture", `{"enabled":true,"max_age":"30"}`, "application/json").want(t, http.StatusBadRequest)
	if !strings.Contains(r.errMsg(t), "max_age[30]: want a duration with its unit") {
		t.Fatalf("bad max_age: %s", r.body)
	}
	e.a.do("PUT", "/v1/tenants/a/capture", `{"enabled":true,"bogus":1}`, "application/json").want(t, http.StatusBadRequest)
	e.a.do("PUT", "/v1/tenants/a/capture", `{"enabled":true,"redact":["ex"]}`, "application/json").want(t, http.StatusOK).decode(t, &c)
	if !c.Settings.Enabled || c.Settings.MaxCallbacks != 100 {
		t.Fatalf("settings %+v", c.Settings)
	}
	e.a.do("POST", "/v1/tenants/a/capture/replay", nil, "").want(t, http.StatusNotFound)

	// The webhook path captured one callback the "stop" version refused.
	e.a.upload("a", "guard", "stop", "?activate=true").want(t, http.StatusCreated)
	stopReply := `{"actionCode":0,"errCode":5001,"errMsg":"blocked","errDlt":"","nextCode":1}`
	cs.Add("a", capture.Callback{Command: "callbackBeforeSendSingleMsgCommand", Reply: []byte(stopReply), Outcome: "stopped",
		Versions: []capture.Version{{Plugin: "guard", Version: "x"}}}, []byte(singleMsg))
	e.a.do("GET", "/v1/tenants/a/capture", nil, "").decode(t, &c)
	if len(c.Callbacks) != 1 || !strings.Contains(string(c.Callbacks[0].Request), `"ex":"[redacted]"`) {
		t.Fatalf("captured %+v", c.Callbacks)
	}

	// Replayed on the active version: the same reply. On an uploaded module
	// that lets everything through: changed.
	var rp admin.Replay
	e.a.do("POST", "/v1/tenants/a/capture/replay", nil, "").want(t, http.StatusOK).decode(t, &rp)
	if rp.Source != "stored" || rp.Total != 1 || rp.Changed != 0 || rp.Results[0].Replay == nil {
		t.Fatalf("replay on active %+v", rp)
	}
	e.a.do("POST", "/v1/tenants/a/capture/replay", fixture(t, "allow"), "application/wasm").want(t, http.StatusOK).decode(t, &rp)
	if rp.Source != "upload" || rp.Changed != 1 || !rp.Results[0].Changed || rp.Results[0].Replay.Stops {
		t.Fatalf("replay on allow %+v", rp)
	}
	r = e.a.do("POST", "/v1/tenants/a/capture/replay", fixture(t, "wrong_abi"), "application/wasm").want(t, http.StatusUnprocessableEntity)
	e.a.do("POST", "/v1/tenants/a/capture/replay?version=ffffffffffff", nil, "").want(t, http.StatusNotFound)
	e.a.do("POST", "/v1/tenants/a/capture/replay?id=9", nil, "").want(t, http.StatusNotFound)

	e.a.do("DELETE", "/v1/tenants/a/capture", nil, "").want(t, http.StatusNoContent)
	c = admin.Capture{}
	e.a.do("GET", "/v1/tenants/a/capture", nil, "").decode(t, &c)
	if len(c.Callbacks) != 0 || !c.Settings.Enabled {
		t.Fatalf("after DELETE %+v", c)
	}
	// Deleting the tenant forgets its capture.
	e.op.do("DELETE", "/v1/tenants/a", nil, "").want(t, http.StatusOK)
	if cs.Enabled("a") {
		t.Fatal("capture still on for a deleted tenant")
	}
}

// TestSlowFollower: a client that follows and does not read never holds up
// the lines' writers (the webhook path); it is told how many it missed.
func TestSlowFollower(t *testing.T) {
	logs := tenantlog.New(tenantlog.Options{FollowBuffer: 16})
	e := setup(t, admin.Options{Logs: logs})
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/tenants/a/logs?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+e.a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Far more than the socket buffers hold, written while nobody reads:
	// each Add returns at once whatever the follower does.
	msg := strings.Repeat("x", 2000)
	for range 20000 {
		logs.Add("a", tenantlog.Line{Kind: tenantlog.KindLog, Message: msg})
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var got, dropped uint64
	for sc.Scan() {
		var ev admin.LogEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Event == "dropped":
			dropped += ev.Count
		case ev.Line != nil:
			got++
		}
		if got+dropped == 20000 {
			break
		}
	}
	if dropped == 0 || got+dropped != 20000 {
		t.Fatalf("read %d lines, %d reported dropped; want every one of the 20000 either read or counted", got, dropped)
	}
}
