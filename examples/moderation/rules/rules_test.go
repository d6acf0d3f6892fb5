package rules

import "testing"

func TestMatcher(t *testing.T) {
	t.Parallel()
	m := NewMatcher(SplitList(" Spam, scam ,,ÉCU"))
	tests := []struct {
		name     string
		text     string
		contains bool
		masked   string
	}{
		{"clean", "hello there", false, "hello there"},
		{"case folded", "buy SPAM now", true, "buy **** now"},
		{"inside a word", "spammer", true, "****mer"},
		{"two words", "scam and spam", true, "**** and ****"},
		{"non-ASCII", "écu d'or", true, "*** d'or"},
		{"empty", "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := m.Contains(tc.text); got != tc.contains {
				t.Errorf("Contains(%q) = %v, want %v", tc.text, got, tc.contains)
			}
			masked, changed := m.Mask(tc.text, DefaultMask)
			if masked != tc.masked || changed != tc.contains {
				t.Errorf("Mask(%q) = %q, %v; want %q, %v", tc.text, masked, changed, tc.masked, tc.contains)
			}
		})
	}
	if !NewMatcher(nil).Empty() || m.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		parse   func(string, bool) (any, error)
		raw     string
		set     bool
		want    any
		wantErr string
	}{
		{"mode unset", wrap(ParseMode), "", false, false, ""},
		{"mode rewrite", wrap(ParseMode), "rewrite", true, true, ""},
		{"mode bad", wrap(ParseMode), "delete", true, nil, `want "block" or "rewrite", got "delete"`},
		{"mode set empty", wrap(ParseMode), "", true, nil, `want "block" or "rewrite", got ""`},
		{"code unset", wrap(ParseErrCode), "", false, int32(DefaultErrCode), ""},
		{"code set", wrap(ParseErrCode), "-7", true, int32(-7), ""},
		{"code zero", wrap(ParseErrCode), "0", true, nil, `want a non-zero 32-bit integer, got "0"`},
		{"msg empty", wrap(ParseErrMsg), "", true, DefaultErrMsg, ""},
		{"mask unset", wrap(ParseMask), "", false, DefaultMask, ""},
		{"mask one rune", wrap(ParseMask), "#", true, '#', ""},
		{"mask two runes", wrap(ParseMask), "##", true, nil, `want one character, got "##"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.parse(tc.raw, tc.set)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func wrap[T any](f func(string, bool) (T, error)) func(string, bool) (any, error) {
	return func(raw string, ok bool) (any, error) { return f(raw, ok) }
}
