//go:build !wasip1

package plugin

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
)

type textStringer struct{}

func (textStringer) String() string { return "as text" }

func TestLogFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  string
		kv   []any
		want string
	}{
		{"message only", "hello", nil, "hello"},
		{"strings", "read", []any{"group", "g1", "user", "user_b"}, "read group=g1 user=user_b"},
		{"quoted strings", "m", []any{"a", "two words", "b", "", "c", `say "hi"`, "d", "k=v"}, `m a="two words" b="" c="say \"hi\"" d="k=v"`},
		{"unicode kept", "m", []any{"name", "Zoë"}, "m name=Zoë"},
		{"control characters quoted", "m", []any{"s", "a\nb"}, `m s="a\nb"`},
		{"integers", "m", []any{"i", -1, "i8", int8(-8), "i32", int32(32), "i64", int64(math.MinInt64), "u8", uint8(8), "u32", uint32(math.MaxUint32), "u64", uint64(math.MaxUint64)},
			"m i=-1 i8=-8 i32=32 i64=-9223372036854775808 u8=8 u32=4294967295 u64=18446744073709551615"},
		{"floats and bools", "m", []any{"f", 1.5, "f32", float32(0.25), "ok", true}, "m f=1.5 f32=0.25 ok=true"},
		{"bytes", "m", []any{"b", []byte("raw")}, "m b=raw"},
		{"list", "m", []any{"l", []string{"a", "b"}, "q", []string{"a b", "c"}, "e", []string(nil)}, `m l=a,b q="a b,c" e=""`},
		{"int lists", "m", []any{"seqs", []int64{56, 57}, "i32", []int32{-1}, "i", []int{}}, `m seqs=56,57 i32=-1 i=""`},
		{"error stringer nil", "m", []any{"err", errors.New("no route"), "s", textStringer{}, "n", nil}, `m err="no route" s="as text" n=nil`},
		{"unknown type", "m", []any{"x", struct{}{}}, "m x=?"},
		{"missing value", "m", []any{"a", 1, "b"}, "m a=1 b=(MISSING)"},
		{"bad key", "m", []any{42, "a", 1}, "m !BADKEY=42 a=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got string
			c := &Context{host: &Host{Log: func(_ abi.LogLevel, line string) { got = line }}}
			c.Info(tc.msg, tc.kv...)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestLogAttrs(t *testing.T) {
	t.Parallel()
	var got string
	c := &Context{host: &Host{Log: func(_ abi.LogLevel, line string) { got = line }}}
	c.LogAttrs(abi.LogInfo, "read", String("reader", "user b"), String("empty", ""), Int64("seq", -42),
		Bool("t", true), Bool("f", false), Int64s("seqs", []int64{56, 57}), Int64s("none", nil))
	if want := `read reader="user b" empty="" seq=-42 t=true f=false seqs=56,57 none=""`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestLogLevels(t *testing.T) {
	t.Parallel()
	var got []string
	c := &Context{host: &Host{Log: func(l abi.LogLevel, line string) { got = append(got, l.String()+":"+line) }}}
	c.Debug("d")
	c.Info("i")
	c.Warn("w")
	c.Error("e")
	c.Log(abi.LogLevel(2), "x")
	if s, want := strings.Join(got, " "), "debug:d info:i warn:w error:e level(2):x"; s != want {
		t.Fatalf("got %s, want %s", s, want)
	}
}

func TestSetting(t *testing.T) {
	t.Parallel()
	parses := 0
	s := NewSetting("words", func(raw string, ok bool) ([]string, error) {
		parses++
		if raw == "bad" {
			return nil, errors.New("not a list")
		}
		if !ok {
			return []string{"default"}, nil
		}
		return SplitList(raw), nil
	})
	host := &Host{Config: map[string]string{}}
	c := &Context{host: host}
	steps := []struct {
		set     bool
		raw     string
		want    string
		wantErr string
		parses  int
	}{
		{set: false, want: "default", parses: 1},
		{set: false, want: "default", parses: 1},
		{set: true, raw: "", want: "", parses: 2}, // set to "" differs from unset
		{set: true, raw: "a, b", want: "a|b", parses: 3},
		{set: true, raw: "a, b", want: "a|b", parses: 3},
		{set: true, raw: "bad", wantErr: "plugin: config[words]: not a list", parses: 4},
		{set: true, raw: "bad", wantErr: "plugin: config[words]: not a list", parses: 4},
		{set: true, raw: "c", want: "c", parses: 5},
	}
	for i, st := range steps {
		delete(host.Config, "words")
		if st.set {
			host.Config["words"] = st.raw
		}
		v, err := s.Get(c)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got := strings.Join(v, "|"); got != st.want || gotErr != st.wantErr || parses != st.parses {
			t.Fatalf("step %d: got %q, err %q, %d parses; want %q, err %q, %d parses", i, got, gotErr, parses, st.want, st.wantErr, st.parses)
		}
	}
	if s.Key() != "words" {
		t.Fatalf("Key() = %s", s.Key())
	}
}

func TestSettingConcurrent(t *testing.T) {
	t.Parallel()
	s := NewSetting("n", func(raw string, _ bool) (string, error) { return raw, nil })
	var wg sync.WaitGroup
	for _, v := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			c := &Context{host: &Host{Config: map[string]string{"n": v}}}
			for range 200 {
				if got, _ := s.Get(c); got != v {
					t.Errorf("Get = %s, want %s", got, v)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{" , ,", ""},
		{"a", "a"},
		{" spam, scam ,,eggs ", "spam|scam|eggs"},
	}
	for _, tc := range tests {
		if got := strings.Join(SplitList(tc.in), "|"); got != tc.want {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// wireHost records the bytes a Context hands the host, as the WebAssembly
// host function receives them.
type wireHost struct{ line []byte }

func (h *wireHost) log(_ abi.LogLevel, line []byte) { h.line = append(h.line[:0], line...) }
func (h *wireHost) config(string, []byte) int       { return -1 }

// TestLogWire checks what the host receives: the message, then, when there
// are key-value pairs, abi.LogAttrSeparator before them, so the host can keep
// them as attributes whatever the message holds.
func TestLogWire(t *testing.T) {
	t.Parallel()
	h := &wireHost{}
	c := &Context{host: h}
	c.Info("a=b c")
	if got := string(h.line); got != "a=b c" {
		t.Errorf("message only: %q", got)
	}
	c.Info("read", "group", "g1", "note", "two words")
	if got, want := string(h.line), "read\x1fgroup=g1 note=\"two words\""; got != want {
		t.Errorf("Log: got %q, want %q", got, want)
	}
	c.LogAttrs(abi.LogInfo, "read", String("group", "g1"), Int64("seq", 42))
	if got, want := string(h.line), "read\x1fgroup=g1 seq=42"; got != want {
		t.Errorf("LogAttrs: got %q, want %q", got, want)
	}
}
