package main

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/sdktest"
)

func single(from string) *openim.BeforeSendSingleMsgReq {
	req := &openim.BeforeSendSingleMsgReq{RecvID: "user_b"}
	req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = from, "m1", 101, `{"content":"hi"}`, 1
	return req
}

func group(groupID, from string) *openim.BeforeSendGroupMsgReq {
	req := &openim.BeforeSendGroupMsgReq{GroupID: groupID}
	req.SendID, req.ClientMsgID, req.ContentType, req.Content, req.SessionType = from, "m1", 101, `{"content":"hi"}`, 3
	return req
}

// sendSingle returns whether the message was stopped.
func sendSingle(t *testing.T, h *sdktest.Harness, from string) bool {
	t.Helper()
	r, err := sdktest.Do[openim.BeforeSendSingleMsgResp](h, single(from))
	if err != nil {
		t.Fatal(err)
	}
	if r != nil && r.Stopped() && (r.ErrCode != DefaultErrCode || r.ErrMsg != DefaultErrMsg) {
		t.Fatalf("stop reply %+v, want the default code and message", r.CommonResp)
	}
	return r != nil && r.Stopped()
}

func sendGroup(t *testing.T, h *sdktest.Harness, groupID, from string) bool {
	t.Helper()
	r, err := sdktest.Do[openim.BeforeSendGroupMsgResp](h, group(groupID, from))
	if err != nil {
		t.Fatal(err)
	}
	return r != nil && r.Stopped()
}

func TestLimitPerWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kv := sdktest.NewKV(sdktest.KVQuota{})
	kv.SetClock(func() time.Time { return now })
	h := sdktest.New(t, map[string]string{KeySingle: "3", KeyWindow: "10s"}).WithKV(kv)
	for i := range 3 {
		if sendSingle(t, h, "alice") {
			t.Fatalf("message %d stopped, want 3 allowed per window", i+1)
		}
	}
	if !sendSingle(t, h, "alice") {
		t.Fatal("fourth message went through")
	}
	if sendSingle(t, h, "bob") {
		t.Fatal("bob was limited by alice's messages")
	}
	now = now.Add(10 * time.Second) // the window's counter expires
	if sendSingle(t, h, "alice") {
		t.Fatal("first message of a new window stopped")
	}
	// Logged once when the limit was first hit.
	n := 0
	for _, l := range h.Logs() {
		if strings.HasPrefix(l.Text, "rate limited") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("logged %d rate-limited lines, want 1: %v", n, h.Logs())
	}
}

func TestGroupsCountApart(t *testing.T) {
	h := sdktest.New(t, map[string]string{KeyGroup: "1"}).WithKV(sdktest.NewKV(sdktest.KVQuota{}))
	if sendGroup(t, h, "g1", "alice") || sendGroup(t, h, "g2", "alice") || sendGroup(t, h, "g1", "bob") {
		t.Fatal("first message in a group stopped")
	}
	if !sendGroup(t, h, "g1", "alice") {
		t.Fatal("second message in g1 went through with group_per_window 1")
	}
	if sendSingle(t, h, "alice") {
		t.Fatal("group messages counted against single chats")
	}
}

// TestFailsOpen: over its state quota, or without state, the plugin lets
// messages through and says why.
func TestFailsOpen(t *testing.T) {
	kv := sdktest.NewKV(sdktest.KVQuota{MaxKeys: 1})
	h := sdktest.New(t, map[string]string{KeySingle: "1"}).WithKV(kv)
	sendSingle(t, h, "alice") // takes the only key
	for range 3 {
		if sendSingle(t, h, "bob") {
			t.Fatal("stopped a message while the state was over quota")
		}
	}
	logs := h.Logs()
	if len(logs) == 0 || !strings.Contains(logs[len(logs)-1].Text, "max_kv_keys[1]") {
		t.Fatalf("logs %v, want the quota's message", logs)
	}
	if sendSingle(t, sdktest.New(t, nil), "alice") {
		t.Fatal("stopped a message without state")
	}
}

func TestConcurrentSenders(t *testing.T) {
	h := sdktest.New(t, map[string]string{KeySingle: "50"}).WithKV(sdktest.NewKV(sdktest.KVQuota{}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	stopped := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				r, err := sdktest.Do[openim.BeforeSendSingleMsgResp](h, single("alice"))
				if err != nil {
					t.Error(err)
					return
				}
				if r != nil && r.Stopped() {
					mu.Lock()
					stopped++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if stopped != 160-50 {
		t.Fatalf("%d of 160 concurrent messages stopped, want exactly 110 over a limit of 50", stopped)
	}
}

func TestBadConfig(t *testing.T) {
	h := sdktest.New(t, map[string]string{KeyWindow: "5"}).WithKV(sdktest.NewKV(sdktest.KVQuota{}))
	_, err := sdktest.Do[openim.BeforeSendSingleMsgResp](h, single("alice"))
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Fatalf("err = %v, want the window key named", err)
	}
}
