package jsonx

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind classifies a decoding error.
type Kind uint8

// Error kinds.
const (
	KindSyntax   Kind = iota + 1 // the input is not valid JSON
	KindType                     // valid JSON of the wrong type or range for the field
	KindTooLarge                 // a string or array over the Decoder's Limits
)

// Error is a decoding failure with the byte offset where it was found and the
// path of keys and indexes leading to it.
type Error struct {
	Kind   Kind
	Offset int
	Msg    string
	path   []pathSeg // innermost first
}

type pathSeg struct {
	key   string
	index int // -1 for a key
}

// Path renders the location as a JSON path such as "users[2].nickname"; it is
// empty for errors outside any field.
func (e *Error) Path() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		s := e.path[i]
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

// Error returns the message with its offset.
func (e *Error) Error() string {
	return "at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// FoldIndex returns the index of the name in names that equals key under
// encoding/json's case folding (Unicode simple folding, so "SENDID" and
// "sendid" match "sendID"), or -1. It is the slow path for keys that did not
// match exactly.
func FoldIndex(key []byte, names []string) int {
	if ascii(key) {
		// Folding keeps an ASCII key's length, and every name is ASCII except
		// that a name's 'k' or 's' may match a longer non-ASCII key byte
		// sequence, which an ASCII key cannot contain.
		for i, n := range names {
			if len(n) == len(key) && asciiEqualFold(key, n) {
				return i
			}
		}
		return -1
	}
	for i, n := range names {
		if equalFold(key, n) {
			return i
		}
	}
	return -1
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiEqualFold(a []byte, b string) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func equalFold(a []byte, b string) bool {
	for len(a) > 0 && len(b) > 0 {
		var ra, rb rune
		if a[0] < utf8.RuneSelf {
			ra = rune(a[0])
			a = a[1:]
		} else {
			r, n := utf8.DecodeRune(a)
			ra = r
			a = a[n:]
		}
		if b[0] < utf8.RuneSelf {
			rb = rune(b[0])
			b = b[1:]
		} else {
			r, n := utf8.DecodeRuneInString(b)
			rb = r
			b = b[n:]
		}
		if foldRune(ra) != foldRune(rb) {
			return false
		}
	}
	return len(a) == 0 && len(b) == 0
}

// foldRune maps r to the smallest rune of its case-folding orbit, the canonical
// form encoding/json compares keys by.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
