// Package textmsg reads and writes the content of OpenIM text messages.
//
// OpenIM carries a message's content as a string holding JSON; for a text
// message (contentType 101) it is an object whose "content" member is the
// text the user typed:
//
//	{"content":"hello"}
//
// Parse extracts that text and Append or Encode build the content for a new
// text, for example for the content field of an openim.BeforeMsgModifyResp.
// The package is small and allocation-lean on purpose: encoding/json would add
// about 1.4 MB to a plugin and cost tens of microseconds per message inside
// the sandbox.
package textmsg

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/imhook/imhook/sdk/internal/wordscan"
)

// ContentType is OpenIM's contentType of a text message.
const ContentType = 101

// maxDepth bounds the nesting of values skipped beside "content", as
// encoding/json does, so a hostile message cannot exhaust the stack.
const maxDepth = 10000

// Parse returns the text of a text message's content, the value of its
// "content" member. Other members are skipped. As with encoding/json, keys
// match case-insensitively, the last of duplicate keys wins, a null value
// leaves the text unset, and invalid UTF-8 becomes U+FFFD.
//
// # Errors
//
// Parse fails when content is not a JSON object, when "content" is present but
// neither a string nor null, or when the object has no string "content" member. Error messages
// name the byte offset: "textmsg: invalid content at offset 12: ...".
func Parse(content string) (string, error) {
	p := parser{s: content}
	text, found := p.object()
	if p.err != nil {
		return "", p.err
	}
	if !found {
		return "", errors.New(`textmsg: content has no "content" member`)
	}
	return text, nil
}

type parser struct {
	s   string
	pos int
	err error
}

func (p *parser) fail(msg string) {
	if p.err == nil {
		p.err = errors.New("textmsg: invalid content at offset " + strconv.Itoa(p.pos) + ": " + msg)
	}
}

func (p *parser) space() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// expect consumes c after optional white space.
func (p *parser) expect(c byte) bool {
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == c {
		p.pos++
		return true
	}
	if p.pos >= len(p.s) {
		p.fail("unexpected end, want " + strconv.QuoteRune(rune(c)))
	} else {
		p.fail("found " + strconv.QuoteRune(rune(p.s[p.pos])) + ", want " + strconv.QuoteRune(rune(c)))
	}
	return false
}

// object reads the top-level object and returns its content member.
func (p *parser) object() (text string, found bool) {
	if !p.expect('{') {
		return "", false
	}
	p.space()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.space()
			key, ok := p.str()
			if !ok || !p.expect(':') {
				return "", false
			}
			if equalFold(key, "content") {
				p.space()
				switch {
				case p.pos < len(p.s) && p.s[p.pos] == 'n':
					// null leaves the value as it was, as in encoding/json.
					if !p.literal("null") {
						return "", false
					}
				case p.pos < len(p.s) && p.s[p.pos] == '"':
					if text, ok = p.str(); !ok {
						return "", false
					}
					found = true
				default:
					p.fail(`"content" is not a string`)
					return "", false
				}
			} else if !p.skip(1) {
				return "", false
			}
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			if !p.expect('}') {
				return "", false
			}
			break
		}
	}
	p.space()
	if p.pos != len(p.s) {
		p.fail("data after the object")
		return "", false
	}
	return text, found
}

// str reads a JSON string at p.pos, unescaping it.
func (p *parser) str() (string, bool) {
	if p.pos >= len(p.s) || p.s[p.pos] != '"' {
		p.fail("want a string")
		return "", false
	}
	p.pos++
	start := p.pos
	// Fast path: plain ASCII up to the closing quote, the result is a
	// substring. Anything else continues byte by byte from the first byte
	// that is not plain.
	p.pos = plainEnd(p.s, p.pos)
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		s := p.s[start:p.pos]
		p.pos++
		return s, true
	}
	b := []byte(p.s[start:p.pos])
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), true
		case c < 0x20:
			p.fail("control character in string")
			return "", false
		case c == '\\':
			var ok bool
			if b, ok = p.escape(b); !ok {
				return "", false
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.pos:])
			b = utf8.AppendRune(b, r) // RuneError for invalid bytes, as encoding/json
			p.pos += size
		}
	}
	p.fail("unterminated string")
	return "", false
}

// escape decodes the escape sequence at p.pos (a backslash) onto b.
func (p *parser) escape(b []byte) ([]byte, bool) {
	if p.pos+1 >= len(p.s) {
		p.fail("unterminated escape")
		return b, false
	}
	c := p.s[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return append(b, c), true
	case 'b':
		return append(b, '\b'), true
	case 'f':
		return append(b, '\f'), true
	case 'n':
		return append(b, '\n'), true
	case 'r':
		return append(b, '\r'), true
	case 't':
		return append(b, '\t'), true
	case 'u':
		r, ok := p.hex4()
		if !ok {
			return b, false
		}
		if utf16.IsSurrogate(r) {
			// A high surrogate must be followed by an escaped low one;
			// otherwise it stands for U+FFFD, as in encoding/json.
			if p.pos+1 < len(p.s) && p.s[p.pos] == '\\' && p.s[p.pos+1] == 'u' {
				save := p.pos
				p.pos += 2
				r2, ok := p.hex4()
				if !ok {
					return b, false
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return utf8.AppendRune(b, dec), true
				}
				p.pos = save
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(b, r), true
	}
	p.pos -= 2
	p.fail("invalid escape " + strconv.Quote(p.s[p.pos:p.pos+2]))
	return b, false
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.s) {
		p.fail("short \\u escape")
		return 0, false
	}
	v, err := strconv.ParseUint(p.s[p.pos:p.pos+4], 16, 32)
	if err != nil {
		p.fail("invalid \\u escape")
		return 0, false
	}
	p.pos += 4
	return rune(v), true
}

// skip validates and skips one value of any type.
func (p *parser) skip(depth int) bool {
	if depth > maxDepth {
		p.fail("nested too deeply")
		return false
	}
	p.space()
	if p.pos >= len(p.s) {
		p.fail("unexpected end, want a value")
		return false
	}
	switch c := p.s[p.pos]; {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.pos++
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == end {
			p.pos++
			return true
		}
		for {
			if c == '{' {
				p.space()
				if _, ok := p.str(); !ok || !p.expect(':') {
					return false
				}
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.space()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			return p.expect(end)
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	p.fail("want a value")
	return false
}

func (p *parser) literal(lit string) bool {
	if len(p.s)-p.pos >= len(lit) && p.s[p.pos:p.pos+len(lit)] == lit {
		p.pos += len(lit)
		return true
	}
	p.fail("want " + lit)
	return false
}

// number skips a JSON number, checking its grammar.
func (p *parser) number() bool {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 || (n > 1 && p.s[intStart] == '0') {
		p.pos = start
		p.fail("invalid number")
		return false
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			p.fail("invalid number")
			return false
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			p.fail("invalid number")
			return false
		}
	}
	return true
}

// equalFold reports whether key equals the lower-case ASCII name ignoring
// case, which is all "content" needs (encoding/json also folds K and S
// specially; neither letter occurs in "content" except as plain ASCII).
func equalFold(key, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

// Encode returns the content of a text message with the given text:
//
//	Encode(`say "hi"`) // {"content":"say \"hi\""}
func Encode(text string) string {
	return string(Append(make([]byte, 0, len(text)+16), text))
}

// Append appends the content of a text message with the given text to dst and
// returns the extended buffer. The text is escaped as encoding/json does,
// including <, > and & as \u003c, \u003e, \u0026, and U+2028/U+2029; invalid
// UTF-8 becomes U+FFFD.
func Append(dst []byte, text string) []byte {
	dst = append(dst, `{"content":"`...)
	const hex = "0123456789abcdef"
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, text[i:i+size]...)
		}
		i += size
	}
	return append(dst, `"}`...)
}

// plainEnd returns the index of the first byte of s at or after i that is a
// quote, a backslash, a control character or not ASCII, or len(s). It tests
// eight bytes per step: inside a WebAssembly guest each iteration of a byte
// loop costs about a hundred instructions.
func plainEnd(s string, i int) int {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for ; i+8 <= len(b); i += 8 {
		if m := wordscan.Special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}
