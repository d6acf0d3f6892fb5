package capture

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

const body = `{"callbackCommand":"callbackBeforeSendSingleMsgCommand","sendID":"a","content":"{\"content\":\"my pin is 4242\"}",` +
	`"ex":"secret","offlinePushInfo":{"title":"t","desc":"d"},"memberList":[{"userID":"u1","ex":"x1"},{"userID":"u2"}],"seq":12345678901234567890}`

func TestOffUntilOn(t *testing.T) {
	s := New(Options{})
	s.Add("acme", Callback{Command: "c"}, []byte(body))
	if s.Enabled("acme") {
		t.Fatal("capture on without Set")
	}
	if _, kept, _ := s.Get("acme"); kept != nil {
		t.Fatalf("kept %v while off", kept)
	}
	if _, err := s.Set("acme", Settings{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if !s.Enabled("acme") || s.Enabled("beta") {
		t.Fatal("Enabled wrong after Set")
	}
	s.Add("acme", Callback{Command: "c", Reply: json.RawMessage(`{"errCode":0}`)}, []byte(body))
	// Another tenant sees nothing of it, even with capture on.
	if _, err := s.Set("beta", Settings{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, kept, _ := s.Get("beta"); len(kept) != 0 {
		t.Fatalf("beta sees %v", kept)
	}
	if _, kept, _ := s.Get("acme"); len(kept) != 1 || kept[0].ID != 1 || string(kept[0].Request) != body {
		t.Fatalf("acme keeps %+v", kept)
	}
	if _, err := s.Set("acme", Settings{}); err != nil {
		t.Fatal(err)
	}
	s.Add("acme", Callback{Command: "c"}, []byte(body))
	if _, kept, _ := s.Get("acme"); len(kept) != 1 {
		t.Fatalf("turned off: %d kept, want the 1 from before", len(kept))
	}
	s.Forget("acme")
	s.Forget("beta")
	if s.on.Load() != 0 || s.total.Load() != 0 {
		t.Fatalf("after Forget: %d on, %d bytes", s.on.Load(), s.total.Load())
	}
}

func TestSettingsChecked(t *testing.T) {
	s := New(Options{})
	for _, tc := range []struct {
		st   Settings
		want string
	}{
		{Settings{MaxCallbacks: 5000}, "max_callbacks[5000]: want 1 to 1000"},
		{Settings{MaxAge: "30"}, "max_age[30]: want a duration with its unit"},
		{Settings{MaxAge: "48h"}, "at most 24h0m0s"},
		{Settings{Redact: []string{"a..b"}}, "want a dotted path"},
		{Settings{Redact: make([]string, 33)}, "at most 32"},
	} {
		if _, err := s.Set("acme", tc.st); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.st, err, tc.want)
		}
	}
	st, err := s.Set("acme", Settings{Enabled: true})
	if err != nil || st.MaxCallbacks != 100 || st.MaxAge != "1h0m0s" {
		t.Fatalf("defaults %+v, %v", st, err)
	}
}

func TestRedact(t *testing.T) {
	s := New(Options{})
	s.Set("acme", Settings{Enabled: true, Redact: []string{"content", "ex", "offlinePushInfo.title", "memberList.ex", "nothere"}})
	s.Add("acme", Callback{Command: "c"}, []byte(body))
	_, kept, _ := s.Get("acme")
	req := string(kept[0].Request)
	for _, secret := range []string{"4242", "secret", `"t"`, "x1"} {
		if strings.Contains(req, secret) {
			t.Errorf("%q kept in %s", secret, req)
		}
	}
	for _, kept := range []string{`"desc":"d"`, `"userID":"u2"`, `"seq":12345678901234567890`, `"content":"[redacted]"`} {
		if !strings.Contains(req, kept) {
			t.Errorf("%s lost from %s", kept, req)
		}
	}
	if got := fmt.Sprint(kept[0].Redacted); got != "[content ex offlinePushInfo.title memberList.ex]" {
		t.Errorf("redacted %s", got)
	}
	// What cannot be parsed is never kept, in case it held a secret.
	s.Add("acme", Callback{Command: "c"}, []byte(`{"content":"1234"`))
	_, kept, _ = s.Get("acme")
	if string(kept[1].Request) != "{}" || len(kept[1].Redacted) != 5 {
		t.Errorf("unparsable body kept as %s", kept[1].Request)
	}
}

func TestBounds(t *testing.T) {
	s := New(Options{MaxBytes: 64 << 10, MaxTotalBytes: 100 << 10})
	s.Set("acme", Settings{Enabled: true, MaxCallbacks: 10})
	for i := range 50 {
		s.Add("acme", Callback{Command: fmt.Sprint(i)}, []byte(body))
	}
	_, kept, _ := s.Get("acme")
	if len(kept) != 10 || kept[0].Command != "40" || kept[9].ID != 50 {
		t.Fatalf("kept %d, first %s", len(kept), kept[0].Command)
	}
	// Too large for the tenant, and over the total.
	big := `{"content":"` + strings.Repeat("x", 20<<10) + `"}`
	s.Set("acme", Settings{Enabled: true, MaxCallbacks: 1000})
	s.Add("acme", Callback{Command: "big"}, []byte(big))
	mid := `{"content":"` + strings.Repeat("x", 10<<10) + `"}`
	for range 20 {
		s.Add("acme", Callback{Command: "mid"}, []byte(mid))
	}
	s.Set("beta", Settings{Enabled: true})
	for range 20 {
		s.Add("beta", Callback{Command: "mid"}, []byte(mid))
	}
	_, _, st := s.Get("acme")
	_, _, sb := s.Get("beta")
	if st.SkippedLarge != 1 || sb.SkippedFull == 0 || s.total.Load() > 100<<10 || s.tenants["acme"].bytes > 64<<10 {
		t.Fatalf("acme %+v beta %+v total %d acme bytes %d", st, sb, s.total.Load(), s.tenants["acme"].bytes)
	}
	// Age: what is older than max_age goes.
	s.Set("gamma", Settings{Enabled: true, MaxAge: "1m"})
	s.Add("gamma", Callback{Command: "old", Time: time.Now().Add(-2 * time.Minute)}, []byte(body))
	s.Add("gamma", Callback{Command: "new"}, []byte(body))
	if _, kept, _ := s.Get("gamma"); len(kept) != 1 || kept[0].Command != "new" {
		t.Fatalf("gamma keeps %+v", kept)
	}
	var sum int64
	for _, t := range s.tenants {
		sum += t.bytes
	}
	if sum != s.total.Load() {
		t.Fatalf("tenants hold %d bytes, total says %d", sum, s.total.Load())
	}
}
