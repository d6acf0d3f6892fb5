package openim

import (
	"errors"
	"strconv"

	"github.com/imhook/imhook/sdk/openim/internal/jsonx"
	"github.com/imhook/imhook/sdk/openim/internal/wire"
)

// Sentinel errors, matched with errors.Is. Every error this package returns
// matches exactly one of them.
var (
	// ErrUnknownCommand: the URL names no known command.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrCommandMismatch: the body's callbackCommand is not the URL's command.
	ErrCommandMismatch = errors.New("command mismatch")
	// ErrSyntax: the body is not valid JSON.
	ErrSyntax = errors.New("invalid JSON")
	// ErrType: valid JSON whose value does not fit the field (wrong JSON type,
	// a fraction or exponent for an integer, out of range, bad base64).
	ErrType = errors.New("wrong type")
	// ErrTooLarge: the body, a string or an array is over the Limits.
	ErrTooLarge = errors.New("too large")
	// ErrWire: a request's wire form (DecodeWire) is malformed: too short for
	// the root table, or a slot whose offset, length or count points past the
	// end. The message names the field and the slot, e.g.
	// `openim: wire input: field "atUserList": slot at offset 120 points past the
	// end of 400 bytes (offset 396, count 2)`.
	ErrWire = errors.New("malformed wire input")
)

// SyntaxError reports input that is not valid JSON, with the byte offset where
// parsing failed. It matches ErrSyntax.
type SyntaxError struct {
	Offset int    // byte offset into the body
	Msg    string // what was wrong, e.g. "trailing comma before '}'"
}

// Error returns e.g. "openim: invalid JSON at offset 412: trailing comma before '}'".
func (e *SyntaxError) Error() string {
	return "openim: invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// FieldError reports a value that does not fit its field, or is too large.
// Err matches ErrType or ErrTooLarge.
type FieldError struct {
	Field  string // JSON path as sent, e.g. "users[2].nickname"; "" for the body itself
	Offset int    // byte offset of the value in the body
	Err    error
}

// Error returns e.g. `openim: field "seq": want uint32, got string`.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return "openim: body: " + e.Err.Error()
	}
	return "openim: field " + strconv.Quote(e.Field) + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// kindError is a message that matches one sentinel.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// CommandError reports an unknown URL command or a body whose callbackCommand
// does not match it. It matches ErrUnknownCommand or ErrCommandMismatch.
type CommandError struct {
	URLCommand  string // the command named by the URL
	BodyCommand string // the body's callbackCommand ("" for ErrUnknownCommand)
	Err         error  // ErrUnknownCommand or ErrCommandMismatch
}

// Error describes the problem with both names.
func (e *CommandError) Error() string {
	if e.Err == ErrUnknownCommand {
		return "openim: unknown command " + strconv.Quote(e.URLCommand)
	}
	return "openim: body callbackCommand " + strconv.Quote(e.BodyCommand) +
		" does not match URL command " + strconv.Quote(e.URLCommand)
}

// Unwrap returns Err.
func (e *CommandError) Unwrap() error { return e.Err }

// decodeError converts the decoder's error. encoding/json reports a syntax
// error anywhere in the input before any type error, so when a type error was
// found first the whole input is checked for syntax to report the same class.
func decodeError(d *jsonx.Decoder, data []byte) error {
	je := d.Err()
	if je == nil {
		return nil
	}
	if je.Kind != jsonx.KindSyntax {
		var v jsonx.Decoder
		v.Reset(data, jsonx.Limits{})
		v.Skip()
		v.End()
		if se := v.Err(); se != nil {
			je = se
		}
	}
	switch je.Kind {
	case jsonx.KindSyntax:
		return &SyntaxError{Offset: je.Offset, Msg: je.Msg}
	case jsonx.KindTooLarge:
		return &FieldError{Field: je.Path(), Offset: je.Offset, Err: &kindError{ErrTooLarge, je.Msg}}
	}
	return &FieldError{Field: je.Path(), Offset: je.Offset, Err: &kindError{ErrType, je.Msg}}
}

// wireError returns the failure of a wire decode of the root struct root as an
// error matching ErrWire, or nil. The message is only built here, on failure.
func wireError(rd *wire.Reader, root string) error {
	msg := rd.Err(root)
	if msg == "" {
		return nil
	}
	return &kindError{ErrWire, "openim: wire input: " + msg}
}
