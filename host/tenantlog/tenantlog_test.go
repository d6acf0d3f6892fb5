package tenantlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// guestLine logs a line as the sandbox does: the host's attributes, then the
// plugin's pairs in the group "attrs".
func guestLine(l *slog.Logger, tenant, msg string, pairs ...slog.Attr) {
	l.LogAttrs(context.Background(), slog.LevelInfo, msg,
		slog.String("tenant", tenant), slog.String("plugin", "p"), slog.String("plugin_version", "0123456789ab"),
		slog.String("command", "callbackBeforeSendSingleMsgCommand"), slog.GroupAttrs("attrs", pairs...))
}

// TestTenantsApart: a tenant never sees another's lines, whether it reads,
// follows, or names another tenant in its own pairs.
func TestTenantsApart(t *testing.T) {
	s := New(Options{})
	var next bytes.Buffer
	log := slog.New(s.Handler(slog.NewTextHandler(&next, nil)))
	_, fb, err := s.Follow("beta", Filter{Level: slog.LevelDebug}, 0)
	if err != nil {
		t.Fatal(err)
	}
	guestLine(log, "acme", "secret of acme", slog.String("tenant", "beta"), slog.String("card", "4242"))
	guestLine(log, "beta", "hello from beta")
	lines, _ := s.Lines("beta", Filter{}, 0)
	if len(lines) != 1 || lines[0].Message != "hello from beta" {
		t.Fatalf("beta reads %+v", lines)
	}
	if got := <-fb.C; got.Message != "hello from beta" {
		t.Fatalf("beta's follower got %+v", got)
	}
	select {
	case l := <-fb.C:
		t.Fatalf("beta's follower got a second line %+v", l)
	default:
	}
	acme, _ := s.Lines("acme", Filter{}, 0)
	if len(acme) != 1 || acme[0].Attrs["tenant"] != "beta" || acme[0].Attrs["card"] != "4242" || acme[0].Kind != KindLog ||
		acme[0].Plugin != "p" || acme[0].Version != "0123456789ab" || acme[0].Command != "callbackBeforeSendSingleMsgCommand" {
		t.Fatalf("acme reads %+v", acme)
	}
	if !strings.Contains(next.String(), "secret of acme") {
		t.Fatalf("the next handler did not get the line: %q", next.String())
	}
	// A record naming no tenant is only passed on.
	log.Info("imhook serving")
	if _, seq := s.Lines("", Filter{}, 0); seq != 0 {
		t.Fatal("a line without a tenant was kept")
	}
}

// TestSlowFollower: a follower that never reads loses lines, counted; the
// writer never waits for it.
func TestSlowFollower(t *testing.T) {
	s := New(Options{FollowBuffer: 4})
	_, f, err := s.Follow("acme", Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		s.Add("acme", Line{Kind: KindLog, Message: fmt.Sprint("line ", i)})
	}
	if d := f.Dropped(); d != 996 {
		t.Fatalf("dropped %d, want 996", d)
	}
	if d := f.Dropped(); d != 0 {
		t.Fatalf("Dropped does not reset: %d", d)
	}
	for i := range 4 {
		if l := <-f.C; l.Message != fmt.Sprint("line ", i) || l.Seq != uint64(i+1) {
			t.Fatalf("line %d: %+v", i, l)
		}
	}
	f.Close()
	if _, ok := <-f.C; ok {
		t.Fatal("C still open after Close")
	}
	f.Close() // twice is fine
}

// TestFloodBounded: lines and bytes per tenant, and bytes across tenants,
// stay bounded however much is logged.
func TestFloodBounded(t *testing.T) {
	s := New(Options{MaxLines: 100, MaxBytes: 64 << 10, MaxTotalBytes: 256 << 10})
	big := strings.Repeat("x", 1000)
	for i := range 5000 {
		s.Add("acme", Line{Kind: KindLog, Message: big, Attrs: map[string]string{"i": fmt.Sprint(i)}})
	}
	lines, seq := s.Lines("acme", Filter{}, 0)
	if seq != 5000 || len(lines) > 100 || lines[len(lines)-1].Attrs["i"] != "4999" {
		t.Fatalf("%d lines, last seq %d", len(lines), seq)
	}
	if b := s.rings["acme"].bytes; b > 64<<10 {
		t.Fatalf("acme holds %d bytes > 64 KiB", b)
	}
	// One huge line is cut, not kept whole.
	s.Add("acme", Line{Kind: KindLog, Message: strings.Repeat("y", 1<<20)})
	lines, _ = s.Lines("acme", Filter{}, 1)
	if len(lines[0].Message) > 16<<10 || !strings.HasSuffix(lines[0].Message, "(cut: the line was too long)") {
		t.Fatalf("huge line kept as %d bytes", len(lines[0].Message))
	}
	// Many tenants: the total stays under its bound, the quiet ones lose first.
	for i := range 40 {
		for range 80 {
			s.Add(fmt.Sprint("t", i), Line{Kind: KindLog, Message: big})
		}
	}
	if tot := s.total.Load(); tot > 256<<10 {
		t.Fatalf("total %d bytes > 256 KiB", tot)
	}
	if l, _ := s.Lines("t39", Filter{}, 0); len(l) == 0 {
		t.Fatal("the tenant written last lost everything")
	}
	var sum int64
	for _, r := range s.rings {
		sum += int64(r.bytes)
	}
	if sum != s.total.Load() {
		t.Fatalf("rings hold %d bytes, total says %d", sum, s.total.Load())
	}
}

func TestFollowerLimits(t *testing.T) {
	s := New(Options{MaxFollowers: 2, MaxFollowersTotal: 3})
	var fs []*Follower
	for range 2 {
		_, f, err := s.Follow("acme", Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	if _, _, err := s.Follow("acme", Filter{}, 0); !errors.Is(err, ErrTooManyFollowers) {
		t.Fatalf("third follower of acme: %v", err)
	}
	if _, _, err := s.Follow("beta", Filter{}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Follow("gamma", Filter{}, 0); !errors.Is(err, ErrTooManyFollowers) {
		t.Fatalf("fourth follower in all: %v", err)
	}
	fs[0].Close()
	if _, _, err := s.Follow("gamma", Filter{}, 0); err != nil {
		t.Fatalf("after a Close: %v", err)
	}
	// Forget ends the tenant's followers and its lines.
	s.Add("acme", Line{Message: "x"})
	s.Forget("acme")
	if l, ok := <-fs[1].C; !ok || l.Message != "x" {
		t.Fatalf("follower got %+v, %v before the end", l, ok)
	}
	if _, ok := <-fs[1].C; ok {
		t.Fatal("follower of a forgotten tenant still open")
	}
	if l, _ := s.Lines("acme", Filter{}, 0); l != nil {
		t.Fatalf("forgotten tenant still has %v", l)
	}
	s.Close()
	if _, _, err := s.Follow("acme", Filter{}, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestFilter(t *testing.T) {
	s := New(Options{})
	s.Add("acme", Line{Kind: KindLog, Level: "debug", Plugin: "a", Command: "c1", Message: "1"})
	s.Add("acme", Line{Kind: KindLog, Level: "info", Plugin: "b", Command: "c1", Message: "2"})
	s.Add("acme", Line{Kind: KindFailure, Level: "warn", Plugin: "a", Command: "c2", Message: "3"})
	for _, tc := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "23"},
		{Filter{Level: slog.LevelDebug}, "123"},
		{Filter{Level: slog.LevelDebug, Plugin: "a"}, "13"},
		{Filter{Level: slog.LevelDebug, Command: "c1"}, "12"},
		{Filter{Level: slog.LevelWarn}, "3"},
		{Filter{Level: slog.LevelDebug, After: 2}, "3"},
	} {
		lines, _ := s.Lines("acme", tc.f, 0)
		var got string
		for _, l := range lines {
			got += l.Message
		}
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}
