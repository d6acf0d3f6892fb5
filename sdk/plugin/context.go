package plugin

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
)

// Context is what a handler gets besides its request: the command being
// handled, the tenant's configuration values and a log.
//
// A Context is valid only during the handler call it is passed to; do not keep
// it. In WebAssembly one Context is reused for every call of an instance, so
// its scratch buffers are allocated once.
type Context struct {
	cmd  openim.Command
	host host
	line []byte // log line scratch, reused across calls
	val  []byte // config value scratch, reused across calls
}

// host is the imhook host as the SDK sees it: the two host functions of the
// ABI. guest_wasip1.go implements it with the real imports; native.go with a
// map and a log sink for tests.
type host interface {
	// log records one log line.
	log(level abi.LogLevel, line []byte)
	// config looks key up like abi.FuncConfig: -1 when not set, otherwise the
	// value's length, and the value is written to dst only if it fits.
	config(key string, dst []byte) int
}

// kvHost is the host's state functions (kv.go), errors as *Error. A
// separate interface, so that hosts of tests without state need none.
type kvHost interface {
	kvGet(key string) ([]byte, uint64, error)
	kvSet(key string, value []byte, ttl time.Duration) error
	kvCAS(key string, value []byte, rev uint64, ttl time.Duration) (uint64, error)
	kvDelete(key string) error
	kvAdd(key string, delta int64, ttl time.Duration) (int64, error)
	kvList(prefix, cursor string, limit int) ([]string, string, error)
}

// Command returns the OpenIM command being handled.
func (c *Context) Command() openim.Command { return c.cmd }

// Config returns the tenant's configuration value for key and whether it is
// set. Keys and values are the strings of the tenant's configuration in imhook
// (the config of its settings), shared by all of the tenant's plugins.
//
// Each call asks the host and copies the value into a new string (one
// allocation). To parse a value once and reuse it across calls, use Setting.
func (c *Context) Config(key string) (string, bool) {
	b, ok := c.configBytes(key)
	if !ok {
		return "", false
	}
	return string(b), true
}

// configBytes returns the value of key in the Context's scratch buffer, which
// the next call overwrites. It allocates only when a value is larger than any
// value read before on this Context.
func (c *Context) configBytes(key string) ([]byte, bool) {
	// Two attempts: the second one has a buffer of the size the host reported.
	// A value that changes size in between is reported as not set rather than
	// looping with a host that misbehaves.
	for range 2 {
		n := c.host.config(key, c.val[:cap(c.val)])
		switch {
		case n < 0:
			return nil, false
		case n <= cap(c.val):
			return c.val[:n], true
		}
		c.val = make([]byte, n)
	}
	return nil, false
}

// Log records msg at level, followed by the key-value pairs in kv, as one line
// in logfmt style:
//
//	c.Log(abi.LogInfo, "group read", "group", id, "seq", 42)
//	// group read group=g1 seq=42
//
// imhook keeps the pairs as attributes of the line (in JSON logs, an "attrs"
// object next to "msg"): the SDK separates them from msg with
// abi.LogAttrSeparator.
//
// Keys should be strings; a key without a value is written with the value
// (MISSING). Values are formatted without package fmt: strings (quoted when
// they contain spaces, quotes, '=' or are empty), []byte as text, signed and
// unsigned integers, floats, bools, []string, []int, []int32 and []int64
// (comma-joined), errors and values
// with a String() string method; other types are written as "?".
//
// # Cost
//
// The line is formatted into a buffer the Context reuses, then handed to the
// host in one host call (about 0.1 us plus ~1 ns per byte). Constants and
// small integers in kv are free; other non-pointer values are boxed into
// interfaces by the compiler, one small allocation each, as with log/slog.
// The host bounds the bytes a call may log; keep lines short. LogAttrs
// avoids the boxing.
func (c *Context) Log(level abi.LogLevel, msg string, kv ...any) {
	b := append(c.line[:0], msg...)
	sep := byte(abi.LogAttrSeparator)
	for i := 0; i < len(kv); i += 2 {
		b = append(b, sep)
		sep = ' '
		k, ok := kv[i].(string)
		if !ok {
			b = append(b, "!BADKEY="...)
			b = appendValue(b, kv[i])
			i--
			continue
		}
		b = append(b, k...)
		b = append(b, '=')
		if i+1 == len(kv) {
			b = append(b, "(MISSING)"...)
			break
		}
		b = appendValue(b, kv[i+1])
	}
	c.line = b
	c.host.log(level, b)
}

// LogAttrs records msg at level followed by attrs, in the same format as Log.
// It is the allocation-free form of Log:
//
//	c.LogAttrs(abi.LogInfo, "group read",
//		plugin.String("reader", req.SendID),
//		plugin.Int64("has_read_seq", req.UnreadMsgNum))
//
// # Cost
//
// Attrs are plain structs, so unlike the values of Log's kv they are not boxed:
// the call allocates nothing once the Context's line buffer has grown to the
// line's size. In WebAssembly each allocation Log saves is about 0.5 us.
func (c *Context) LogAttrs(level abi.LogLevel, msg string, attrs ...Attr) {
	b := append(c.line[:0], msg...)
	sep := byte(abi.LogAttrSeparator)
	for _, a := range attrs {
		b = append(b, sep)
		sep = ' '
		b = append(b, a.key...)
		b = append(b, '=')
		switch a.kind {
		case attrString:
			b = appendString(b, a.str)
		case attrInt:
			b = strconv.AppendInt(b, a.num, 10)
		case attrBool:
			b = strconv.AppendBool(b, a.num != 0)
		case attrInts:
			b = appendInts(b, a.ints)
		}
	}
	c.line = b
	c.host.log(level, b)
}

// Attr is one key-value pair for Context.LogAttrs. Build it with String,
// Int64, Bool or Int64s.
type Attr struct {
	key  string
	kind attrKind
	str  string
	num  int64
	ints []int64
}

type attrKind uint8

const (
	attrString attrKind = iota
	attrInt
	attrBool
	attrInts
)

// String returns an Attr for a string value, quoted in the line when needed.
func String(key, value string) Attr { return Attr{key: key, kind: attrString, str: value} }

// Int64 returns an Attr for an integer value.
func Int64(key string, value int64) Attr { return Attr{key: key, kind: attrInt, num: value} }

// Bool returns an Attr for a boolean value.
func Bool(key string, value bool) Attr {
	a := Attr{key: key, kind: attrBool}
	if value {
		a.num = 1
	}
	return a
}

// Int64s returns an Attr for a list of integers, written comma-joined.
func Int64s(key string, value []int64) Attr { return Attr{key: key, kind: attrInts, ints: value} }

// Debug logs msg and kv at abi.LogDebug. See Log for the format and cost.
func (c *Context) Debug(msg string, kv ...any) { c.Log(abi.LogDebug, msg, kv...) }

// Info logs msg and kv at abi.LogInfo. See Log for the format and cost.
func (c *Context) Info(msg string, kv ...any) { c.Log(abi.LogInfo, msg, kv...) }

// Warn logs msg and kv at abi.LogWarn. See Log for the format and cost.
func (c *Context) Warn(msg string, kv ...any) { c.Log(abi.LogWarn, msg, kv...) }

// Error logs msg and kv at abi.LogError. See Log for the format and cost.
//
// Logging is for context; to make the call fail, return an error from the
// handler instead.
func (c *Context) Error(msg string, kv ...any) { c.Log(abi.LogError, msg, kv...) }

// stringer matches fmt.Stringer without importing fmt, which would add about
// a megabyte to every plugin.
type stringer interface{ String() string }

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(b, v)
	case []byte:
		return appendString(b, string(v))
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int8:
		return strconv.AppendInt(b, int64(v), 10)
	case int16:
		return strconv.AppendInt(b, int64(v), 10)
	case int32:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case uint:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10)
	case uint64:
		return strconv.AppendUint(b, v, 10)
	case float32:
		return strconv.AppendFloat(b, float64(v), 'g', -1, 32)
	case float64:
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case bool:
		return strconv.AppendBool(b, v)
	case []string:
		return appendList(b, v)
	case []int64:
		return appendInts(b, v)
	case []int32:
		return appendInts(b, v)
	case []int:
		return appendInts(b, v)
	case nil:
		return append(b, "nil"...)
	case error:
		return appendString(b, v.Error())
	case stringer:
		return appendString(b, v.String())
	}
	return append(b, '?')
}

// appendInts writes vs comma-joined.
func appendInts[T int | int32 | int64](b []byte, vs []T) []byte {
	if len(vs) == 0 {
		return append(b, `""`...)
	}
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return b
}

// appendList writes ss comma-joined, quoted as a whole when needed.
func appendList(b []byte, ss []string) []byte {
	start := len(b)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	if needsQuote(string(b[start:])) {
		joined := string(b[start:])
		b = strconv.AppendQuote(b[:start], joined)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	if needsQuote(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuote reports whether s must be quoted to keep a logfmt line parseable.
func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
