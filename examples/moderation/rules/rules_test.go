package rules

import (
	"math/rand/v2"
	"strings"
	"testing"
)

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

// TestMatcherASCII covers the fast path of ASCII words and texts, and checks
// it against the rune path on texts built from the words' pieces.
func TestMatcherASCII(t *testing.T) {
	t.Parallel()
	m := NewMatcher(SplitList("spam,Kill, scam"))
	if m.asciiWords == nil {
		t.Fatal("ASCII words did not enable the fast path")
	}
	long := strings.Repeat("all clear ", 40) // over the 256-byte stack buffer
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"hello there", false},
		{"buy SPAM now", true},
		{"sKiLLed", true},
		{"sca m", false},
		{long, false},
		{long + "ScAm", true},
		{"\u212Aill", true}, // KELVIN SIGN lower-cases to 'k': the rune path
		{"", false},
	} {
		if got := m.Contains(tc.text); got != tc.want {
			t.Errorf("Contains(%.40q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	pieces := []string{"s", "S", "pa", "PA", "m", "k", "ILL", "il", "l", "sc", "a", " ", "x", "Am", "Z", "@", "[", "é", "\u212A"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := b.String()
		slow := NewMatcher(SplitList("spam,Kill, scam"))
		slow.asciiWords = nil // force the rune path
		if got, want := m.Contains(text), slow.Contains(text); got != want {
			t.Fatalf("Contains(%q): fast path %v, rune path %v", text, got, want)
		}
	}
}
