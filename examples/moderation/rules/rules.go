// Package rules is the moderation example's logic without the plugin SDK:
// parsing its configuration values and finding or masking banned words. The
// plugin (examples/moderation) and the native baseline server of the
// benchmarks (cmd/imhook/internal/baseline) both use it, so the comparison
// runs the same logic on both sides. It imports only the standard library.
package rules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Defaults of the configuration values.
const (
	DefaultErrCode = 20001
	DefaultErrMsg  = "message blocked by moderation"
	DefaultMask    = '*'
)

// Configuration keys.
const (
	KeyBannedWords = "banned_words"
	KeyMode        = "mode"
	KeyErrCode     = "err_code"
	KeyErrMsg      = "err_msg"
	KeyMask        = "mask"
)

// SplitList splits a comma-separated value into its items, with surrounding
// spaces removed and empty items dropped, as the SDK's plugin.SplitList does.
func SplitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// ParseMode parses the mode value: "block" (false) or "rewrite" (true). ok
// reports whether the key is set at all; unset means block.
func ParseMode(raw string, ok bool) (rewrite bool, err error) {
	switch raw {
	case "block":
		return false, nil
	case "rewrite":
		return true, nil
	case "":
		if !ok {
			return false, nil
		}
	}
	return false, errors.New(`want "block" or "rewrite", got "` + raw + `"`)
}

// ParseErrCode parses err_code, a non-zero 32-bit integer; unset means
// DefaultErrCode.
func ParseErrCode(raw string, ok bool) (int32, error) {
	if !ok {
		return DefaultErrCode, nil
	}
	v, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || v == 0 {
		return 0, errors.New(`want a non-zero 32-bit integer, got "` + raw + `"`)
	}
	return int32(v), nil
}

// ParseErrMsg parses err_msg; unset or empty means DefaultErrMsg.
func ParseErrMsg(raw string, ok bool) (string, error) {
	if !ok || raw == "" {
		return DefaultErrMsg, nil
	}
	return raw, nil
}

// ParseMask parses mask, exactly one character; unset means DefaultMask.
func ParseMask(raw string, ok bool) (rune, error) {
	if !ok {
		return DefaultMask, nil
	}
	r, size := utf8.DecodeRuneInString(raw)
	if size == 0 || size != len(raw) || r == utf8.RuneError {
		return 0, errors.New(`want one character, got "` + raw + `"`)
	}
	return r, nil
}

// Matcher finds banned words in a text, ignoring case. It is immutable and
// safe for concurrent use.
type Matcher struct {
	words [][]rune // lower-cased, non-empty

	// asciiWords are words as bytes when every word is ASCII (nil
	// otherwise), for Contains' fast path.
	asciiWords [][]byte
}

// NewMatcher returns a matcher of words (empty words are the caller's to
// drop: SplitList does).
func NewMatcher(words []string) *Matcher {
	m := &Matcher{}
	ascii := true
	for _, w := range words {
		m.words = append(m.words, lower([]rune(w)))
		ascii = ascii && isASCII(w)
	}
	if ascii {
		for _, w := range m.words {
			m.asciiWords = append(m.asciiWords, []byte(string(w)))
		}
	}
	return m
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Empty reports whether there is no word to find.
func (m *Matcher) Empty() bool { return len(m.words) == 0 }

// lower lower-cases rs in place, rune by rune, so indexes stay aligned with
// the original text (strings.ToLower may change the length).
func lower(rs []rune) []rune {
	for i, r := range rs {
		rs[i] = unicode.ToLower(r)
	}
	return rs
}

// Contains reports whether text contains a banned word.
func (m *Matcher) Contains(text string) bool {
	if m.asciiWords != nil {
		return m.containsASCII(text)
	}
	return m.containsRunes(text)
}

// containsRunes is Contains for any words and text.
func (m *Matcher) containsRunes(text string) bool {
	low := lower([]rune(text))
	for i := range low {
		if m.matchAt(low, i) > 0 {
			return true
		}
	}
	return false
}

// matchAt returns the length of the longest banned word at low[i:], or 0.
func (m *Matcher) matchAt(low []rune, i int) int {
	longest := 0
	for _, w := range m.words {
		if len(w) > longest && len(low)-i >= len(w) && equal(low[i:i+len(w)], w) {
			longest = len(w)
		}
	}
	return longest
}

func equal(a, b []rune) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Mask replaces every rune of every banned word in text with r, and reports
// whether anything changed.
func (m *Matcher) Mask(text string, r rune) (string, bool) {
	orig := []rune(text)
	low := lower([]rune(text))
	changed := false
	for i, end := 0, 0; i < len(low); i++ {
		if n := m.matchAt(low, i); n > 0 {
			end = max(end, i+n)
		}
		if i < end && orig[i] != r {
			orig[i] = r
			changed = true
		}
	}
	return string(orig), changed
}

// containsASCII is Contains for ASCII words. It lower-cases the text eight
// bytes at a time into a stack buffer and searches it with bytes.Contains;
// inside a WebAssembly plugin, where every iteration of a byte loop costs
// about a hundred instructions, that is several times cheaper than the rune
// path, which converts the text and calls unicode.ToLower for each character.
// A text that is not ASCII takes the rune path even for ASCII words: U+212A
// KELVIN SIGN lower-cases to 'k'.
func (m *Matcher) containsASCII(text string) bool {
	var buf [256]byte
	low := buf[:]
	if len(text) > len(buf) {
		low = make([]byte, len(text))
	}
	low = low[:len(text)]
	if !lowerASCII(low, text) {
		return m.containsRunes(text)
	}
	for _, w := range m.asciiWords {
		if bytes.Contains(low, w) {
			return true
		}
	}
	return false
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// lowerASCII writes text lower-cased into dst (len(dst) == len(text)) and
// reports whether text is ASCII; when it is not, dst is garbage.
func lowerASCII(dst []byte, text string) bool {
	src := unsafe.Slice(unsafe.StringData(text), len(text))
	i := 0
	for ; i+8 <= len(src); i += 8 {
		x := binary.LittleEndian.Uint64(src[i:])
		if x&highs != 0 {
			return false
		}
		// Per byte c < 0x80: c+0x3f has its high bit set iff c >= 'A', c+0x25
		// iff c > 'Z'; no byte carries into the next.
		upper := (x + (0x80-'A')*ones) &^ (x + (0x80-'Z'-1)*ones) & highs
		binary.LittleEndian.PutUint64(dst[i:], x|upper>>2)
	}
	for ; i < len(src); i++ {
		c := src[i]
		if c >= utf8.RuneSelf {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return true
}
