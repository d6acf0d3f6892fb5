package plugin

import (
	"strings"
	"sync"
)

// Setting is one tenant configuration value, parsed by the plugin into a T
// once and parsed again only when the tenant changes the raw value.
//
// Declare settings as package variables and read them in handlers:
//
//	var banned = plugin.NewSetting("banned_words", func(raw string, ok bool) ([]string, error) {
//		return plugin.SplitList(raw), nil
//	})
//
//	func handler(c *plugin.Context, req *openim.BeforeSendSingleMsgReq) (*openim.BeforeSendSingleMsgResp, error) {
//		words, err := banned.Get(c)
//		...
//	}
//
// # Cost
//
// Get makes one host call to read the raw value into a buffer the Context
// reuses and compares it with the value last parsed: no allocation unless the
// value changed. Reading with Context.Config and parsing on every call would
// allocate the string and whatever the parser builds, every time.
//
// A Setting is safe for concurrent use.
type Setting[T any] struct {
	key   string
	parse func(raw string, ok bool) (T, error)

	mu     sync.Mutex
	parsed bool   // val and err hold the result for raw/set
	set    bool   // the key was set when last parsed
	raw    string // the raw value last parsed
	val    T
	err    error
}

// NewSetting returns the Setting for the configuration key. parse receives
// the raw value and whether the key is set (raw is "" when it is not), and
// returns the value handlers get, or an error that explains what is wrong
// with the configuration.
func NewSetting[T any](key string, parse func(raw string, ok bool) (T, error)) *Setting[T] {
	if parse == nil {
		panic("plugin: NewSetting(" + key + ") with a nil parse function")
	}
	return &Setting[T]{key: key, parse: parse}
}

// Key returns the configuration key the Setting reads.
func (s *Setting[T]) Key() string { return s.key }

// Get returns the parsed value of the setting for the call c belongs to.
//
// # Errors
//
// When parse fails, Get returns the zero T and an error
// "plugin: config[<key>]: <parse error>"; the result is cached like a value,
// so parse runs again only after the tenant changes the value.
func (s *Setting[T]) Get(c *Context) (T, error) {
	b, ok := c.configBytes(s.key)
	// No defer and no parse under the lock: a deferred unlock costs more than
	// the rest of a cache hit in WebAssembly, and a parse function that panics
	// must not leave the Setting locked.
	s.mu.Lock()
	if s.parsed && ok == s.set && equalName(s.raw, b) {
		v, err := s.val, s.err
		s.mu.Unlock()
		return v, err
	}
	s.mu.Unlock()
	raw := string(b)
	v, err := s.parse(raw, ok)
	if err != nil {
		var zero T
		v, err = zero, &configError{key: s.key, err: err}
	}
	s.mu.Lock()
	s.parsed, s.set, s.raw, s.val, s.err = true, ok, raw, v, err
	s.mu.Unlock()
	return v, err
}

// configError is a configuration value that its Setting could not parse.
type configError struct {
	key string
	err error
}

func (e *configError) Error() string { return "plugin: config[" + e.key + "]: " + e.err.Error() }

func (e *configError) Unwrap() error { return e.err }

// SplitList splits a comma-separated configuration value into its items,
// with surrounding spaces removed and empty items dropped:
//
//	SplitList(" spam, scam ,,") // ["spam" "scam"]
//	SplitList("")               // nil
func SplitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
