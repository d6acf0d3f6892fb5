package openim

import (
	"strconv"

	"github.com/imhook/imhook/sdk/openim/internal/jsonx"
)

// Default limits, used where a Limits field is zero. OpenIM's own bodies stay far
// below them; they exist so a hostile or broken sender cannot make the host
// allocate without bound.
const (
	DefaultMaxBodyBytes   = 1 << 20   // 1 MiB
	DefaultMaxStringBytes = 256 << 10 // 256 KiB, room for long message content
	DefaultMaxArrayLen    = 10000     // e.g. userIDList of a large group push
)

// Limits bounds what ParseRequest accepts. Zero fields take the defaults above;
// a negative field means no limit.
type Limits struct {
	MaxStringBytes int // longest string value or key, in bytes as sent
	MaxArrayLen    int // most elements of any array (or entries of a map)
	MaxBodyBytes   int // longest body
}

func (l Limits) resolve() (jsonx.Limits, int) {
	pick := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	return jsonx.Limits{
		MaxStringBytes: pick(l.MaxStringBytes, DefaultMaxStringBytes),
		MaxArrayLen:    pick(l.MaxArrayLen, DefaultMaxArrayLen),
	}, pick(l.MaxBodyBytes, DefaultMaxBodyBytes)
}

// ParseRequest is the host's strict parse of one callback. It resolves
// urlCommand (the last path segment, legacy names included), decodes body as
// that command's request under lim, and checks that the body's callbackCommand
// names the same command. A legacy name (see Lookup) resolves to its current
// command, so either name may appear on either side.
//
// # Errors
//
//   - *CommandError matching ErrUnknownCommand or ErrCommandMismatch
//   - *SyntaxError (ErrSyntax), e.g. for the trailing comma of the OpenIM docs' example
//   - *FieldError matching ErrType or ErrTooLarge, naming the field
//
// The messages are meant for an operator reading an HTTP 400 body.
func ParseRequest(urlCommand string, body []byte, lim Limits) (Request, error) {
	c, ok := lookup(urlCommand)
	if !ok {
		return nil, &CommandError{URLCommand: urlCommand, Err: ErrUnknownCommand}
	}
	jl, maxBody := lim.resolve()
	if maxBody > 0 && len(body) > maxBody {
		return nil, &FieldError{Offset: maxBody, Err: &kindError{ErrTooLarge,
			strconv.Itoa(len(body)) + " bytes exceed the limit of " + strconv.Itoa(maxBody)}}
	}
	req, err := decodeRequest(c, body, jl)
	if err != nil {
		return nil, err
	}
	bc := bodyCommand(req)
	if b, ok := lookup(bc); !ok || b != c {
		return nil, &CommandError{URLCommand: urlCommand, BodyCommand: bc, Err: ErrCommandMismatch}
	}
	return req, nil
}

// bodyCommand returns the request's callbackCommand field.
func bodyCommand(r Request) string {
	if b, ok := r.(interface{ bodyCommand() string }); ok {
		return b.bodyCommand()
	}
	return ""
}
