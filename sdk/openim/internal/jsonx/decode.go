// Package jsonx is the JSON scanner and writer behind sdk/openim's generated
// codecs. It is written for speed inside a wasm guest: no reflection, no maps,
// no allocations beyond the strings and slices of the decoded value, and an
// append-style writer.
//
// Decoding follows encoding/json's rules wherever they decide what a valid input
// means (grammar, escapes, invalid UTF-8 replaced with U+FFFD, null leaving
// non-pointer values unchanged, last duplicate key wins, integer range checks,
// case-insensitive key fallback). It stops at the first error instead of
// collecting them. Writing is byte-identical to encoding/json.Marshal of the same
// Go values (HTML escaping, U+2028/U+2029, base64 for []byte, sorted map keys).
//
// A Decoder is not safe for concurrent use; it is meant to live on the stack of
// one decode call.
package jsonx

import (
	"encoding/base64"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/imhook/imhook/sdk/internal/wordscan"
)

// MaxDepth is encoding/json's nesting limit; deeper input is rejected as invalid.
const MaxDepth = 10000

// Limits bounds what a Decoder accepts. Zero fields mean "no limit".
type Limits struct {
	MaxStringBytes int // longest string value or key, in bytes as sent
	MaxArrayLen    int // most elements in one array or entries in one map
}

// Decoder reads one JSON document. The generated code drives it field by field;
// every method records the first error and turns into a no-op afterwards, so
// callers check Failed once per field rather than after every call.
type Decoder struct {
	data  []byte
	pos   int
	depth int
	lim   Limits
	err   *Error
	key   []byte

	// buf is one copy of data, made on the first string value; the strings of
	// the result point into it, so a decode costs one allocation for all of
	// them instead of one each. Escaped strings are unescaped in place, each
	// within its own bytes; no byte of buf changes once a string covers it.
	buf []byte
}

// Reset prepares d to read data with the given limits.
func (d *Decoder) Reset(data []byte, lim Limits) {
	*d = Decoder{data: data, lim: lim}
}

// Failed reports whether an error has been recorded.
func (d *Decoder) Failed() bool { return d.err != nil }

// Err returns the recorded error, or nil.
func (d *Decoder) Err() *Error { return d.err }

// Key returns the key read by the last successful NextKey. It aliases the input
// when the key has no escapes; an escaped key is a fresh copy.
func (d *Decoder) Key() []byte { return d.key }

// InField adds an object key to the path of the recorded error. Generated code
// calls it while unwinding, so the path is built only on failure.
func (d *Decoder) InField(key []byte) {
	if d.err != nil {
		d.err.path = append(d.err.path, pathSeg{key: string(key), index: -1})
	}
}

// InIndex adds an array index to the path of the recorded error.
func (d *Decoder) InIndex(i int) {
	if d.err != nil {
		d.err.path = append(d.err.path, pathSeg{index: i})
	}
}

// End checks that only whitespace follows the document.
func (d *Decoder) End() {
	if d.err != nil {
		return
	}
	d.skipSpace()
	if d.pos < len(d.data) {
		d.syntax(d.pos, "unexpected "+quoteByte(d.data[d.pos])+" after top-level value")
	}
}

func (d *Decoder) fail(kind Kind, off int, msg string) {
	if d.err == nil {
		d.err = &Error{Kind: kind, Offset: off, Msg: msg}
	}
}

func (d *Decoder) syntax(off int, msg string) { d.fail(KindSyntax, off, msg) }

func (d *Decoder) eof() {
	d.syntax(len(d.data), "unexpected end of input")
}

// skipSpace skips JSON whitespace (space, tab, CR, LF only, as RFC 8259).
func (d *Decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end of input.
// The common case, no whitespace, is small enough to inline.
func (d *Decoder) peek() byte {
	if d.pos < len(d.data) {
		if c := d.data[d.pos]; c > ' ' {
			return c
		}
	}
	return d.peekSlow()
}

func (d *Decoder) peekSlow() byte {
	d.skipSpace()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// kindOf names the JSON type that starts with c, for type errors.
func kindOf(c byte) string {
	switch c {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	if c == '-' || (c >= '0' && c <= '9') {
		return "number"
	}
	return ""
}

// mismatch records a type error for the value at the cursor, after checking
// that the value is at least valid JSON (encoding/json reports syntax first).
func (d *Decoder) mismatch(want string) {
	start := d.pos
	c := d.data[start]
	got := kindOf(c)
	if got == "" {
		d.syntax(start, "invalid character "+quoteByte(c)+" looking for beginning of value")
		return
	}
	d.Skip()
	if d.err != nil {
		return
	}
	d.fail(KindType, start, "want "+want+", got "+got)
}

// Null consumes a null literal if one is next and reports whether it did.
func (d *Decoder) Null() bool {
	if d.err != nil {
		return false
	}
	if d.peek() != 'n' {
		return false
	}
	d.literal("null")
	return d.err == nil
}

func (d *Decoder) literal(lit string) {
	if len(d.data)-d.pos < len(lit) {
		for i := 0; d.pos+i < len(d.data); i++ {
			if d.data[d.pos+i] != lit[i] {
				d.syntax(d.pos+i, "invalid character "+quoteByte(d.data[d.pos+i])+" in literal "+lit)
				return
			}
		}
		d.eof()
		return
	}
	for i := 1; i < len(lit); i++ {
		if d.data[d.pos+i] != lit[i] {
			d.syntax(d.pos+i, "invalid character "+quoteByte(d.data[d.pos+i])+" in literal "+lit)
			return
		}
	}
	d.pos += len(lit)
}

// ObjectStart consumes '{' and reports true, or consumes null and reports false
// (leaving the target unchanged, as encoding/json does). Anything else records
// an error and reports false.
func (d *Decoder) ObjectStart() bool {
	if d.err != nil {
		return false
	}
	switch d.peek() {
	case '{':
		d.pos++
		d.depth++
		if d.depth > MaxDepth {
			d.syntax(d.pos-1, "exceeded max depth")
			return false
		}
		return true
	case 'n':
		d.literal("null")
		return false
	case 0:
		d.eof()
		return false
	}
	d.mismatch("object")
	return false
}

// NextKey advances to the next key of the object opened by ObjectStart, reads it
// and the colon after it, and reports true; at the closing brace it reports
// false. first must point to a variable that is true before the first call.
func (d *Decoder) NextKey(first *bool) bool {
	if d.err != nil {
		return false
	}
	c := d.peek()
	if *first {
		*first = false
		if c == '}' {
			d.pos++
			d.depth--
			return false
		}
	} else {
		switch c {
		case '}':
			d.pos++
			d.depth--
			return false
		case ',':
			d.pos++
			c = d.peek()
			if c == '}' {
				d.syntax(d.pos, "trailing comma before '}'")
				return false
			}
		case 0:
			d.eof()
			return false
		default:
			d.syntax(d.pos, "invalid character "+quoteByte(c)+" after object key:value pair")
			return false
		}
	}
	if c != '"' {
		if c == 0 {
			d.eof()
		} else {
			d.syntax(d.pos, "invalid character "+quoteByte(c)+" looking for beginning of object key string")
		}
		return false
	}
	data := d.data
	start := d.pos + 1
	// scanPlain's first word, inline: most keys end within it, and a call
	// costs about as much as a word step inside a wasm guest.
	i := start
	if i+8 <= len(data) {
		if m := wordscan.Special(Load64(data, i)); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
		} else {
			i = scanPlain(data, i+8)
		}
	} else {
		i = scanPlain(data, i)
	}
	if i < len(data) && data[i] == '"' && (d.lim.MaxStringBytes <= 0 || i-start <= d.lim.MaxStringBytes) {
		d.key = data[start:i]
		d.pos = i + 1
	} else {
		k, _ := d.rawString(true)
		if d.err != nil {
			return false
		}
		d.key = k
	}
	switch d.peek() {
	case ':':
		d.pos++
	case 0:
		d.eof()
		return false
	default:
		d.syntax(d.pos, "invalid character "+quoteByte(d.data[d.pos])+" after object key")
		return false
	}
	d.skipSpace()
	return true
}

// ArrayStart consumes '[' and reports true, or consumes null and reports false.
// isNull tells the two false cases apart.
func (d *Decoder) ArrayStart() (ok, isNull bool) {
	if d.err != nil {
		return false, false
	}
	switch d.peek() {
	case '[':
		d.pos++
		d.depth++
		if d.depth > MaxDepth {
			d.syntax(d.pos-1, "exceeded max depth")
			return false, false
		}
		return true, false
	case 'n':
		d.literal("null")
		return false, d.err == nil
	case 0:
		d.eof()
		return false, false
	}
	d.mismatch("array")
	return false, false
}

// NextElem advances to the next element of the array opened by ArrayStart and
// reports true, or consumes ']' and reports false. n is the number of elements
// read so far; it is checked against Limits.MaxArrayLen.
func (d *Decoder) NextElem(n int) bool {
	if d.err != nil {
		return false
	}
	c := d.peek()
	if n == 0 {
		if c == ']' {
			d.pos++
			d.depth--
			return false
		}
	} else {
		switch c {
		case ']':
			d.pos++
			d.depth--
			return false
		case ',':
			d.pos++
			if d.peek() == ']' {
				d.syntax(d.pos, "trailing comma before ']'")
				return false
			}
		case 0:
			d.eof()
			return false
		default:
			d.syntax(d.pos, "invalid character "+quoteByte(c)+" after array element")
			return false
		}
	}
	if d.pos >= len(d.data) {
		d.eof()
		return false
	}
	if d.lim.MaxArrayLen > 0 && n >= d.lim.MaxArrayLen {
		d.fail(KindTooLarge, d.pos, "more than "+strconv.Itoa(d.lim.MaxArrayLen)+" elements, the limit per array")
		return false
	}
	return true
}

// String decodes a JSON string into *p; null leaves *p unchanged.
func (d *Decoder) String(p *string) {
	if d.err != nil {
		return
	}
	switch d.peek() {
	case '"':
		// Fast path: a plain string within the limit, a substring of one copy of the input.
		data := d.data
		start := d.pos + 1
		i := start // scanPlain's first word inline, as in NextKey
		if i+8 <= len(data) {
			if m := wordscan.Special(Load64(data, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
			} else {
				i = scanPlain(data, i+8)
			}
		} else {
			i = scanPlain(data, i)
		}
		if i < len(data) && data[i] == '"' && (d.lim.MaxStringBytes <= 0 || i-start <= d.lim.MaxStringBytes) {
			d.pos = i + 1
			if i == start {
				*p = ""
				return
			}
			if d.buf == nil {
				d.buf = append([]byte(nil), data...)
			}
			*p = unsafe.String(&d.buf[start], i-start)
			return
		}
		d.stringSlow(p)
	case 'n':
		d.literal("null")
	case 0:
		d.eof()
	default:
		d.mismatch("string")
	}
}

// stringSlow is String for a string with escapes, non-ASCII bytes, over the
// limit, or in error. An escaped string is unescaped in place in the copy of
// the input, where it was: unescaping never lengthens valid UTF-8, and its
// bytes belong to no other string. That saves an allocation, which costs about
// as much inside a wasm guest as scanning the whole body. Only invalid UTF-8,
// whose replacement characters are longer than the bytes they replace, needs
// a buffer of its own.
func (d *Decoder) stringSlow(p *string) {
	start := d.pos + 1
	end, escaped, invalid := d.scanString(false)
	switch {
	case d.err != nil:
		return
	case end == start:
		*p = ""
		return
	case invalid:
		b := unquote(make([]byte, 0, end-start), d.data[start:end])
		// b is a fresh buffer that nothing else references or changes, so
		// it can back the string without a second allocation and copy
		// (what strings.Builder does).
		*p = unsafe.String(unsafe.SliceData(b), len(b))
		return
	}
	if d.buf == nil {
		d.buf = append([]byte(nil), d.data...)
	}
	n := end - start
	if escaped {
		// unquote writes behind where it reads, within this string's bytes.
		n = len(unquote(d.buf[start:start], d.buf[start:end]))
	}
	*p = unsafe.String(&d.buf[start], n)
}

// StringPtr decodes a JSON string or null into *p (null sets nil).
func (d *Decoder) StringPtr(p **string) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(string)
	}
	d.String(*p)
}

// Bytes decodes a base64 (standard encoding) JSON string into *p; null sets nil.
func (d *Decoder) Bytes(p *[]byte) {
	if d.err != nil {
		return
	}
	switch d.peek() {
	case '"':
		start := d.pos
		b, _ := d.rawString(false)
		if d.err != nil {
			return
		}
		out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(out, b)
		if err != nil {
			d.fail(KindType, start, "want base64 string: "+err.Error())
			return
		}
		*p = out[:n]
	case 'n':
		d.literal("null")
		*p = nil
	case 0:
		d.eof()
	default:
		d.mismatch("base64 string")
	}
}

// Bool decodes true or false into *p; null leaves *p unchanged.
func (d *Decoder) Bool(p *bool) {
	if d.err != nil {
		return
	}
	switch d.peek() {
	case 't':
		d.literal("true")
		if d.err == nil {
			*p = true
		}
	case 'f':
		d.literal("false")
		if d.err == nil {
			*p = false
		}
	case 'n':
		d.literal("null")
	case 0:
		d.eof()
	default:
		d.mismatch("bool")
	}
}

// BoolPtr decodes a bool or null into *p (null sets nil).
func (d *Decoder) BoolPtr(p **bool) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(bool)
	}
	d.Bool(*p)
}

// integer reads a JSON number that must be an integer within [lo, hi].
// ok is false when nothing should be stored (null, or an error).
//
// It returns the value (for hi above MaxInt64, reinterpret it as uint64) and
// whether one was read: false for null or an error.
func (d *Decoder) integer(want string, lo int64, hi uint64) (int64, bool) {
	if d.err != nil {
		return 0, false
	}
	var neg bool
	var mag uint64
	switch c := d.peek(); {
	case c >= '0' && c <= '9':
	case c == '-':
		neg = true
	case c == 'n':
		d.literal("null")
		return 0, false
	case c == 0:
		d.eof()
		return 0, false
	default:
		d.mismatch(want)
		return 0, false
	}
	// One pass: parse the digits while checking the range, and fall back to the
	// full grammar only for what is not a plain integer.
	b := d.data
	start := d.pos
	i := start
	if neg {
		i++
	}
	limit := hi
	if neg {
		limit = uint64(-(lo + 1)) + 1
	}
	q, r := limit/10, limit%10
	overflow := false
	first := i
	if i < len(b) && b[i] == '0' {
		i++ // JSON allows no leading zeros; what follows is the caller's problem
	} else {
		for i < len(b) {
			v := uint64(b[i] - '0')
			if v > 9 {
				break
			}
			if mag > q || (mag == q && v > r) {
				overflow = true
			}
			mag = mag*10 + v
			i++
		}
	}
	if i == first || (i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E')) {
		end, _ := d.scanNumber() // reports the syntax error, if any
		if d.err == nil {
			d.fail(KindType, start, "want "+want+", got number "+string(b[start:end]))
		}
		return 0, false
	}
	d.pos = i
	switch {
	case neg && lo == 0:
		// encoding/json parses unsigned targets with ParseUint, which refuses any sign.
		d.fail(KindType, start, "want "+want+", got number "+string(b[start:i]))
		return 0, false
	case overflow:
		d.fail(KindType, start, "want "+want+", got number "+string(b[start:i])+" (out of range)")
		return 0, false
	}
	if neg {
		return -int64(mag-1) - 1, true
	}
	return int64(mag), true
}

// Int32 decodes an integer that fits int32 into *p; null leaves *p unchanged.
func (d *Decoder) Int32(p *int32) {
	if v, ok := d.integer("int32", -1<<31, 1<<31-1); ok {
		*p = int32(v)
	}
}

// Int64 decodes an integer that fits int64 into *p; null leaves *p unchanged.
func (d *Decoder) Int64(p *int64) {
	if v, ok := d.integer("int64", -1<<63, 1<<63-1); ok {
		*p = v
	}
}

// Int decodes an integer that fits Go's int into *p; null leaves *p unchanged.
func (d *Decoder) Int(p *int) {
	if v, ok := d.integer("int", math.MinInt, math.MaxInt); ok {
		*p = int(v)
	}
}

// Uint32 decodes a non-negative integer that fits uint32 into *p; null leaves
// *p unchanged.
func (d *Decoder) Uint32(p *uint32) {
	if v, ok := d.integer("uint32", 0, 1<<32-1); ok {
		*p = uint32(v)
	}
}

// Int32Ptr decodes an int32 or null into *p (null sets nil).
func (d *Decoder) Int32Ptr(p **int32) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(int32)
	}
	d.Int32(*p)
}

// Int64Ptr decodes an int64 or null into *p (null sets nil).
func (d *Decoder) Int64Ptr(p **int64) {
	if d.Null() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(int64)
	}
	d.Int64(*p)
}

// Elem returns s grown so that index i exists, for decoding array element i.
// Existing elements and spare capacity are reused, as encoding/json does; that
// only shows with duplicate keys. (A loop with a callback would make the
// Decoder escape to the heap, so generated code calls Elem and Trim itself.)
func Elem[T any](s []T, i int) []T {
	if i < len(s) {
		return s
	}
	if i < cap(s) {
		return s[:i+1]
	}
	var zero T
	return append(s, zero)
}

// Trim returns s cut to the n decoded elements; [] decodes to an empty non-nil slice.
func Trim[T any](s []T, n int) []T {
	if s == nil {
		return []T{}
	}
	return s[:n]
}

// Strings decodes a JSON array of strings into *p; null sets nil.
func (d *Decoder) Strings(p *[]string) {
	ok, isNull := d.ArrayStart()
	if !ok {
		if isNull {
			*p = nil
		}
		return
	}
	s := *p
	i := 0
	for ; d.NextElem(i); i++ {
		s = Elem(s, i)
		d.String(&s[i])
		if d.err != nil {
			d.InIndex(i)
			return
		}
	}
	if d.err == nil {
		*p = Trim(s, i)
	}
}

// Int64s decodes a JSON array of integers into *p; null sets nil.
func (d *Decoder) Int64s(p *[]int64) {
	ok, isNull := d.ArrayStart()
	if !ok {
		if isNull {
			*p = nil
		}
		return
	}
	s := *p
	i := 0
	for ; d.NextElem(i); i++ {
		s = Elem(s, i)
		d.Int64(&s[i])
		if d.err != nil {
			d.InIndex(i)
			return
		}
	}
	if d.err == nil {
		*p = Trim(s, i)
	}
}

// BoolMap decodes a JSON object of bools into *p; null sets nil. Entries are
// added to an existing map, as encoding/json does; a null value stores false.
func (d *Decoder) BoolMap(p *map[string]bool) {
	if d.err != nil {
		return
	}
	if d.peek() == 'n' {
		d.literal("null")
		if d.err == nil {
			*p = nil
		}
		return
	}
	if !d.ObjectStart() {
		return
	}
	if *p == nil {
		*p = map[string]bool{}
	}
	m := *p
	n := 0
	for first := true; d.NextKey(&first); n++ {
		if d.lim.MaxArrayLen > 0 && n >= d.lim.MaxArrayLen {
			d.fail(KindTooLarge, d.pos, "more than "+strconv.Itoa(d.lim.MaxArrayLen)+" entries, the limit per object")
			return
		}
		k := string(d.key)
		var v bool
		d.Bool(&v)
		if d.err != nil {
			d.InField(d.key)
			return
		}
		m[k] = v
	}
}

// Skip consumes one value of any type, checking its syntax.
func (d *Decoder) Skip() {
	if d.err != nil {
		return
	}
	// An explicit stack of open containers ('{' or '['), so hostile nesting
	// cannot grow the Go stack; the depth limit matches encoding/json's. The
	// first 64 levels need no allocation.
	var buf [64]byte
	stack := buf[:0]
	for {
		c := d.peek()
		switch {
		case c == '{' || c == '[':
			d.pos++
			d.depth++
			if d.depth > MaxDepth {
				d.syntax(d.pos-1, "exceeded max depth")
				return
			}
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if d.peek() == closer {
				d.pos++
				d.depth--
				break
			}
			stack = append(stack, c)
			if c == '{' && !d.skipKey() {
				return
			}
			continue
		case c == '"':
			d.rawSkipString()
		case c == 't':
			d.literal("true")
		case c == 'f':
			d.literal("false")
		case c == 'n':
			d.literal("null")
		case c == '-' || (c >= '0' && c <= '9'):
			d.scanNumber()
		case c == 0:
			d.eof()
		default:
			d.syntax(d.pos, "invalid character "+quoteByte(c)+" looking for beginning of value")
		}
		if d.err != nil {
			return
		}
		// A value is complete: close finished containers, or move to the next value.
		for len(stack) > 0 {
			open := stack[len(stack)-1]
			c := d.peek()
			if c == ',' {
				d.pos++
				nc := d.peek()
				if open == '{' {
					if nc == '}' {
						d.syntax(d.pos, "trailing comma before '}'")
						return
					}
					if !d.skipKey() {
						return
					}
				} else if nc == ']' {
					d.syntax(d.pos, "trailing comma before ']'")
					return
				}
				break
			}
			if (open == '{' && c == '}') || (open == '[' && c == ']') {
				d.pos++
				d.depth--
				stack = stack[:len(stack)-1]
				continue
			}
			if c == 0 {
				d.eof()
			} else if open == '{' {
				d.syntax(d.pos, "invalid character "+quoteByte(c)+" after object key:value pair")
			} else {
				d.syntax(d.pos, "invalid character "+quoteByte(c)+" after array element")
			}
			return
		}
		if len(stack) == 0 {
			return
		}
	}
}

// skipKey reads `"key" :` inside an object being skipped.
func (d *Decoder) skipKey() bool {
	c := d.peek()
	if c != '"' {
		if c == 0 {
			d.eof()
		} else {
			d.syntax(d.pos, "invalid character "+quoteByte(c)+" looking for beginning of object key string")
		}
		return false
	}
	d.rawSkipString()
	if d.err != nil {
		return false
	}
	switch d.peek() {
	case ':':
		d.pos++
		return true
	case 0:
		d.eof()
	default:
		d.syntax(d.pos, "invalid character "+quoteByte(d.data[d.pos])+" after object key")
	}
	return false
}

// scanNumber checks the number grammar at the cursor and returns its end and
// whether it is an integer (no fraction, no exponent).
func (d *Decoder) scanNumber() (end int, isInt bool) {
	b := d.data
	i := d.pos
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		d.eof()
		return i, false
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		d.syntax(i, "invalid character "+quoteByte(b[i])+" in numeric literal")
		return i, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i >= len(b) {
			d.eof()
			return i, false
		}
		if b[i] < '0' || b[i] > '9' {
			d.syntax(i, "invalid character "+quoteByte(b[i])+" after decimal point in numeric literal")
			return i, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) {
			d.eof()
			return i, false
		}
		if b[i] < '0' || b[i] > '9' {
			d.syntax(i, "invalid character "+quoteByte(b[i])+" in exponent of numeric literal")
			return i, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	d.pos = i
	return i, isInt
}

// plain marks bytes that can be copied as they are inside a string: printable
// ASCII other than '"' and '\\'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanPlain returns the index of the first byte at or after i that is not
// plain (a quote, backslash, control byte or non-ASCII byte), or len(b). It
// tests eight bytes per step: a byte loop costs several nanoseconds per byte
// inside a wasm guest, the word loop a fraction of that.
func scanPlain(b []byte, i int) int {
	for i+8 <= len(b) {
		if m := wordscan.Special(Load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return scanPlainTail(b, i)
}

// scanPlainTail is scanPlain's byte loop for the last few bytes.
func scanPlainTail(b []byte, i int) int {
	for i < len(b) && plain[b[i]] {
		i++
	}
	return i
}

// rawSkipString moves past a string, validating it, without decoding it.
func (d *Decoder) rawSkipString() {
	b := d.data
	i := scanPlain(b, d.pos+1)
	for i < len(b) {
		c := b[i]
		if plain[c] || c >= 0x80 {
			i++
			continue
		}
		switch {
		case c == '"':
			d.pos = i + 1
			return
		case c == '\\':
			n := d.escapeLen(i)
			if n == 0 {
				return
			}
			i += n
		default:
			d.syntax(i, "invalid character "+quoteByte(c)+" in string literal")
			return
		}
	}
	d.eof()
}

// escapeLen validates the escape sequence at i and returns its length, or 0
// after recording a syntax error.
func (d *Decoder) escapeLen(i int) int {
	b := d.data
	if i+1 >= len(b) {
		d.eof()
		return 0
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		for j := i + 2; j < i+6; j++ {
			if j >= len(b) {
				d.eof()
				return 0
			}
			if hexVal(b[j]) < 0 {
				d.syntax(j, "invalid character "+quoteByte(b[j])+" in \\u hexadecimal character escape")
				return 0
			}
		}
		return 6
	}
	d.syntax(i+1, "invalid character "+quoteByte(b[i+1])+" in string escape code")
	return 0
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// rawString reads the string at the cursor. It returns the decoded bytes and
// whether they were unescaped into a fresh slice that nothing else references
// (true) or alias the input (false). The string
// limit applies to the encoded length; isKey selects the error wording.
func (d *Decoder) rawString(isKey bool) ([]byte, bool) {
	start := d.pos + 1
	end, escaped, invalid := d.scanString(isKey)
	if d.err != nil {
		return nil, false
	}
	b := d.data[start:end]
	if !escaped && !invalid {
		return b, false
	}
	// Escapes only shorten a string; only invalid UTF-8 (1 byte to 3) can grow it.
	return unquote(make([]byte, 0, len(b)), b), true
}

// scanString validates the string at the cursor, moves past it and returns
// the end of its body (the index of the closing quote) and whether the body
// has escapes or invalid UTF-8, the two reasons it cannot be used as it is.
// The string limit applies to the encoded length; isKey selects the error
// wording. On error it records it and returns zeros.
func (d *Decoder) scanString(isKey bool) (end int, escaped, invalid bool) {
	b := d.data
	start := d.pos + 1
	end = scanPlain(b, start)
	for {
		if end >= len(b) {
			d.eof()
			return 0, false, false
		}
		c := b[end]
		if plain[c] {
			end++
			continue
		}
		if c == '"' {
			break
		}
		if c == '\\' {
			n := d.escapeLen(end)
			if n == 0 {
				return 0, false, false
			}
			escaped = true
			end += n
			continue
		}
		if c < 0x20 {
			d.syntax(end, "invalid character "+quoteByte(c)+" in string literal")
			return 0, false, false
		}
		r, size := utf8.DecodeRune(b[end:])
		if r == utf8.RuneError && size == 1 {
			invalid = true
		}
		end += size
	}
	d.pos = end + 1
	if d.lim.MaxStringBytes > 0 && end-start > d.lim.MaxStringBytes {
		d.tooLong(start-1, end-start, isKey)
		return 0, false, false
	}
	return end, escaped, invalid
}

func (d *Decoder) tooLong(off, n int, isKey bool) {
	what := "string"
	if isKey {
		what = "key"
	}
	// Say it is a bound per string: the body's own limit is another, and
	// raising that one does not help.
	limit := strconv.Itoa(d.lim.MaxStringBytes) + " bytes"
	if kib := d.lim.MaxStringBytes >> 10; kib > 0 && kib<<10 == d.lim.MaxStringBytes {
		limit += " (" + strconv.Itoa(kib) + " KiB)"
	}
	d.fail(KindTooLarge, off, what+" of "+strconv.Itoa(n)+" bytes exceeds the limit of "+limit+" per "+what)
}

// unquote appends the decoded body of a validated string with escapes or
// invalid UTF-8 to out, replacing invalid UTF-8 and unpaired surrogates with
// U+FFFD as encoding/json does.
func unquote(out, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' {
			switch s[i+1] {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := u4(s[i+2:])
				i += 6
				if r >= 0xD800 && r < 0xE000 {
					if r < 0xDC00 && i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if r2 := u4(s[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
							r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
							i += 6
							out = utf8.AppendRune(out, r)
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default: // '"', '\\', '/'
				out = append(out, s[i+1])
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			out = append(out, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		out = utf8.AppendRune(out, r)
		i += size
	}
	return out
}

func u4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}

func quoteByte(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	if c < 0x20 || c >= 0x7f {
		return "'\\x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15]) + "'"
	}
	return "'" + string(c) + "'"
}
