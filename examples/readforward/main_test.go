package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/sdk/sdktest"
)

const groupReadBody = `{"callbackCommand":"callbackAfterGroupMsgReadCommand","sendID":"user_b","receiveID":"user_b","unreadMsgNum":42,"contentType":3}` + "\n"

// sink is the tenant's service: it records what it receives.
type sink struct {
	mu     sync.Mutex
	got    []map[string]any
	auth   []string
	status int
}

func newSink(t *testing.T) (*sink, *httptest.Server) {
	s := &sink{status: 204}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("the service got %s %s %q: %v", r.Method, r.Header.Get("Content-Type"), b, err)
		}
		s.mu.Lock()
		s.got = append(s.got, ev)
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		status := s.status
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func TestForward(t *testing.T) {
	s, srv := newSink(t)
	h := sdktest.New(t, map[string]string{"service_url": srv.URL + "/read", "token_secret": "svc_token"})
	h.AllowHTTP(srv.URL)
	h.SetSecret("svc_token", "t0k3n")
	reply, err := h.Call("callbackAfterGroupMsgReadCommand", []byte(groupReadBody))
	if err != nil || reply != nil {
		t.Fatalf("reply %s, err %v; want no reply", reply, err)
	}
	if len(s.got) != 1 || s.auth[0] != "Bearer t0k3n" {
		t.Fatalf("the service got %v with Authorization %q", s.got, s.auth)
	}
	want := map[string]any{"event": "group_read", "reader": "user_b", "has_read_seq": float64(42), "conversation_type": float64(3)}
	for k, v := range want {
		if s.got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, s.got[0][k], v)
		}
	}
}

func TestForwardFailures(t *testing.T) {
	s, srv := newSink(t)
	call := func(cfg map[string]string, allow bool) error {
		h := sdktest.New(t, cfg)
		if allow {
			h.AllowHTTP(srv.URL)
		}
		_, err := h.Call("callbackAfterGroupMsgReadCommand", []byte(groupReadBody))
		return err
	}
	if err := call(nil, true); err == nil || !strings.Contains(err.Error(), "service_url") {
		t.Errorf("no service_url: %v", err)
	}
	if err := call(map[string]string{"service_url": "ftp://x"}, true); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Errorf("bad service_url: %v", err)
	}
	// No out-calls allowed at all, then another destination only: as a
	// tenant without the grant, or outside egress_allow, in imhook.
	if err := call(map[string]string{"service_url": srv.URL}, false); err == nil || !strings.Contains(err.Error(), "AllowHTTP") {
		t.Errorf("out-calls not allowed: %v", err)
	}
	h := sdktest.New(t, map[string]string{"service_url": srv.URL})
	h.AllowHTTP("http://127.0.0.1:1")
	if _, err := h.Call("callbackAfterGroupMsgReadCommand", []byte(groupReadBody)); err == nil || !strings.Contains(err.Error(), "is not allowed") {
		t.Errorf("destination not allowed: %v", err)
	}
	// A secret that is not set.
	if err := call(map[string]string{"service_url": srv.URL, "token_secret": "nope"}, true); err == nil || !strings.Contains(err.Error(), "secret[nope]") {
		t.Errorf("missing secret: %v", err)
	}
	s.mu.Lock()
	s.status = 503
	s.mu.Unlock()
	if err := call(map[string]string{"service_url": srv.URL}, true); err == nil || !strings.Contains(err.Error(), "answered 503") {
		t.Errorf("a 503: %v", err)
	}
}

func TestAppendJSON(t *testing.T) {
	ev := readEvent{Reader: "a\"b\\c\n\x01é", HasReadSeq: -1, ConversationType: 3}
	var back map[string]any
	if err := json.Unmarshal(ev.appendJSON(nil), &back); err != nil || back["reader"] != ev.Reader {
		t.Fatalf("%s: %v %v", ev.appendJSON(nil), back, err)
	}
}

// TestCounters: each forwarded read receipt counts in the tenant's state,
// per reader and in total; a receipt that was not forwarded does not
// count, and counters=off keeps none.
func TestCounters(t *testing.T) {
	s, srv := newSink(t)
	kv := sdktest.NewKV(sdktest.KVQuota{})
	h := sdktest.New(t, map[string]string{"service_url": srv.URL}).WithKV(kv)
	h.AllowHTTP(srv.URL)
	call := func(reader string) error {
		body := strings.ReplaceAll(groupReadBody, "user_b", reader)
		_, err := h.Call("callbackAfterGroupMsgReadCommand", []byte(body))
		return err
	}
	for _, r := range []string{"user_b", "user_b", "user_c", "user_b"} {
		if err := call(r); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.status = 503
	s.mu.Unlock()
	if err := call("user_c"); err == nil {
		t.Fatal("a failed forward succeeded")
	}
	for key, want := range map[string]string{"reads:user_b": "3", "reads:user_c": "1", "reads": "4"} {
		if v, _, err := kv.Get([]byte(key)); err != nil || string(v) != want {
			t.Errorf("%s = %q, %v; want %s", key, v, err, want)
		}
	}

	off := sdktest.NewKV(sdktest.KVQuota{})
	s.mu.Lock()
	s.status = 204
	s.mu.Unlock()
	h = sdktest.New(t, map[string]string{"service_url": srv.URL, "counters": "off"}).WithKV(off)
	h.AllowHTTP(srv.URL)
	if _, err := h.Call("callbackAfterGroupMsgReadCommand", []byte(groupReadBody)); err != nil {
		t.Fatal(err)
	}
	if n, _ := off.Usage(); n != 0 {
		t.Errorf("counters=off kept %d keys", n)
	}
}
