package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
)

func TestSplitLogLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, msg string
		attrs           []string // key, value, ...
	}{
		{"message only", "blocked", "blocked", nil},
		{"old plugin: pairs in the message", "blocked send_id=user_a", "blocked send_id=user_a", nil},
		{"pairs", "blocked\x1fsend_id=user_a seq=42", "blocked", []string{"send_id", "user_a", "seq", "42"}},
		{"quoted values", "m\x1fa=\"two words\" b=\"\" c=\"say \\\"hi\\\"\" d=\"k=v\"", "m", []string{"a", "two words", "b", "", "c", `say "hi"`, "d", "k=v"}},
		{"no pairs after the separator", "m\x1f", "m", nil},
		{"not pairs: kept as text", "m\x1fnot a pair", "m not a pair", nil},
		{"unterminated quote: kept as text", "m\x1fa=\"open", "m a=\"open", nil},
		{"empty key: kept as text", "m\x1f=v", "m =v", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg, attrs := splitLogLine([]byte(tc.line))
			if msg != tc.msg {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
			var got []string
			for _, a := range attrs.Value.Group() {
				got = append(got, a.Key, a.Value.String())
			}
			if !slices.Equal(got, tc.attrs) {
				t.Errorf("attributes %q, want %q", got, tc.attrs)
			}
			if text := logText([]byte(tc.line)); tc.attrs != nil && text == tc.line {
				t.Errorf("logText kept the separator: %q", text)
			}
		})
	}
}

// TestLogAttrsStructured logs a line with pairs through a real guest into a
// JSON handler: the pairs are attributes in a group of their own, so a guest
// cannot pass itself off as another tenant, and a dry run shows the line as
// text.
func TestLogAttrsStructured(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	var buf bytes.Buffer
	tn := newTestTenant(t, e, SandboxOptions{ID: "acme", Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	p := load(t, tn, "echo", wat(t, "echo"))
	line := "#blocked\x1fsend_id=user_a tenant=other note=\"two words\""
	if _, _, err := p.Call(context.Background(), seedCommand, []byte(line), nil); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Msg    string            `json:"msg"`
		Tenant string            `json:"tenant"`
		Attrs  map[string]string `json:"attrs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, &buf)
	}
	if rec.Msg != "#blocked" || rec.Tenant != "acme" || rec.Attrs["send_id"] != "user_a" || rec.Attrs["tenant"] != "other" || rec.Attrs["note"] != "two words" {
		t.Errorf("logged %s", &buf)
	}
	_, info, err := p.Call(WithLogCapture(context.Background()), seedCommand, []byte(line), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "#blocked send_id=user_a tenant=other note=\"two words\""; len(info.Logs) != 1 || info.Logs[0].Message != want {
		t.Errorf("captured %+v, want the message %q", info.Logs, want)
	}
}
