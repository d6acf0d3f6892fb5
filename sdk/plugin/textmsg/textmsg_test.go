package textmsg

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "plain", in: `{"content":"hello"}`, want: "hello"},
		{name: "spaces", in: " {\n \"content\" : \"hi there\" } ", want: "hi there"},
		{name: "escapes", in: `{"content":"a\"b\\c\/d\n\t\u00e9\u003c"}`, want: "a\"b\\c/d\n\té<"},
		{name: "surrogate pair", in: `{"content":"\ud83d\ude00"}`, want: "😀"},
		{name: "lone surrogate", in: `{"content":"\ud83dx"}`, want: "\uFFFDx"},
		{name: "utf-8 as is", in: `{"content":"你好"}`, want: "你好"},
		{name: "other members skipped", in: `{"x":[1,{"y":null},true,-2.5e3],"content":"ok","z":{}}`, want: "ok"},
		{name: "last duplicate wins", in: `{"content":"a","Content":"b"}`, want: "b"},
		{name: "null keeps earlier", in: `{"content":"a","content":null}`, want: "a"},
		{name: "empty text", in: `{"content":""}`, want: ""},
		{name: "missing", in: `{"text":"hello"}`, wantErr: `textmsg: content has no "content" member`},
		{name: "only null", in: `{"content":null}`, wantErr: `textmsg: content has no "content" member`},
		{name: "not a string", in: `{"content":5}`, wantErr: `textmsg: invalid content at offset 11: "content" is not a string`},
		{name: "not an object", in: `"hello"`, wantErr: `textmsg: invalid content at offset 0: found '"', want '{'`},
		{name: "empty", in: ``, wantErr: `textmsg: invalid content at offset 0: unexpected end, want '{'`},
		{name: "trailing data", in: `{"content":"a"}x`, wantErr: `textmsg: invalid content at offset 15: data after the object`},
		{name: "unterminated", in: `{"content":"a`, wantErr: `textmsg: invalid content at offset 13: unterminated string`},
		{name: "bad escape", in: `{"content":"\q"}`, wantErr: `textmsg: invalid content at offset 12: invalid escape "\\q"`},
		{name: "bad number", in: `{"n":01,"content":"a"}`, wantErr: `textmsg: invalid content at offset 5: invalid number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Parse(%s) error = %v, want %s", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Parse(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseDeepNesting(t *testing.T) {
	t.Parallel()
	in := `{"x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `,"content":"a"}`
	if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Fatalf("err = %v, want nested too deeply", err)
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "hello", `q"b\`, "<a&b>", "line\nbreak\ttab\r\x01\x1f", "é你好😀", "\u2028\u2029", "bad\xffutf8"} {
		want, err := json.Marshal(struct {
			Content string `json:"content"`
		}{text})
		if err != nil {
			t.Fatal(err)
		}
		if got := Encode(text); got != string(want) {
			t.Errorf("Encode(%q) = %s, want %s", text, got, want)
		}
	}
}

// FuzzParse checks Parse against encoding/json, the reference for what a
// text message's content means.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"content":"hello"}`, `{"content":"\ud83d\ude00","x":[1,2]}`, `{"CONTENT":"a","content":null}`, `{}`, `[]`, `{"content":"\u00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var ref struct {
			Content string `json:"content"`
		}
		refErr := json.Unmarshal([]byte(in), &ref)
		got, err := Parse(in)
		switch {
		case refErr != nil && err == nil:
			t.Fatalf("Parse(%q) = %q, encoding/json rejects it: %v", in, got, refErr)
		case refErr == nil && err == nil && got != ref.Content:
			t.Fatalf("Parse(%q) = %q, encoding/json says %q", in, got, ref.Content)
		case refErr == nil && err != nil && ref.Content != "":
			// Parse may only reject a valid object whose text is unset or not a string.
			t.Fatalf("Parse(%q) failed (%v), encoding/json says %q", in, err, ref.Content)
		}
		if err == nil {
			if back, err := Parse(Encode(got)); err != nil || back != got {
				t.Fatalf("round trip of %q = %q, %v", got, back, err)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	in := `{"content":"hello, this is a fairly ordinary chat message"}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlainEnd puts each kind of byte at each position of strings around the
// eight-byte step, against a byte-by-byte reference.
func TestPlainEnd(t *testing.T) {
	ref := func(s string, i int) int {
		for ; i < len(s); i++ {
			if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return i
	}
	for n := range 20 {
		for at := range n {
			for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff, ' ', 0x7f, '!', '#', '[', ']'} {
				b := []byte(strings.Repeat("a", n))
				b[at] = c
				for from := 0; from <= n; from++ {
					if got, want := plainEnd(string(b), from), ref(string(b), from); got != want {
						t.Fatalf("plainEnd(%q, %d) = %d, want %d", b, from, got, want)
					}
				}
			}
		}
	}
}
