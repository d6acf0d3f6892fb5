package openim

import "strconv"

// Command identifies one OpenIM webhook command. The zero value is invalid;
// the constants run from 1 in catalog order.
type Command uint8

// String returns the wire name, e.g. "callbackBeforeSendSingleMsgCommand", or
// "Command(N)" for an invalid value.
func (c Command) String() string {
	if !c.Valid() {
		return "Command(" + strconv.Itoa(int(c)) + ")"
	}
	return commandInfo[c].name
}

// Valid reports whether c is one of the catalog's commands.
func (c Command) Valid() bool { return c >= 1 && int(c) <= numCommands }

// Phase returns whether OpenIM calls c before the operation (and waits for the
// reply) or after it (and ignores the reply). It returns 0 for an invalid c.
func (c Command) Phase() Phase {
	if !c.Valid() {
		return 0
	}
	return commandInfo[c].phase
}

// ConfigKey returns the command's key in OpenIM's webhooks.yml, e.g.
// "beforeSendSingleMsg". Several keys do not follow the command's name
// (beforeMemberJoinGroup, afterRevokeMsg, ...). It returns "" for an invalid c.
func (c Command) ConfigKey() string {
	if !c.Valid() {
		return ""
	}
	return commandInfo[c].configKey
}

// Echoes reports whether c's neutral reply must echo fields of the request,
// because OpenIM copies them from the reply unconditionally
// (callbackBeforeSetGroupInfoCommand and callbackBeforeSetGroupInfoExCommand).
func (c Command) Echoes() bool { return c.Valid() && commandInfo[c].echoes }

// Commands returns all commands in catalog order. The slice is a fresh copy.
func Commands() []Command {
	out := make([]Command, numCommands)
	copy(out, allCommands[:])
	return out
}

// Lookup resolves a wire name to its Command. Besides the 52 current names it
// accepts the 15 legacy names OpenIM v3.4.2 to v3.6 sent before the renames of
// v3.7.0 (callbackMsgModifyCommand resolves to BeforeMsgModify, ...), whose
// requests have the current command's shape. Matching is exact and
// case-sensitive.
func Lookup(name string) (Command, bool) { return lookup(name) }

// Retired reports whether name is a command an older OpenIM sent whose
// request no current type decodes, and returns the command that replaced it:
// callbackBeforeMemberJoinGroupCommand (v3.7.x and before, one member per
// call) became BeforeMembersJoinGroup (a list) at v3.8.0. A host cannot run
// such a callback; for a before-command it should answer the successor's
// neutral reply, which the old OpenIM reads as "continue".
func Retired(name string) (successor Command, ok bool) { return retired(name) }

// Phase is when OpenIM calls a command relative to the operation it reports.
type Phase uint8

// Phases.
const (
	// Before commands are synchronous: OpenIM waits for the reply and aborts the
	// operation on a stop, a transport error or an undecodable reply.
	Before Phase = 1
	// After commands are asynchronous and OpenIM ignores their reply.
	After Phase = 2
)

// String returns "before", "after", or "Phase(N)".
func (p Phase) String() string {
	switch p {
	case Before:
		return "before"
	case After:
		return "after"
	}
	return "Phase(" + strconv.Itoa(int(p)) + ")"
}

// Request is the decoded body of one command. NewRequest returns the right
// concrete type (*XReq) for a Command.
type Request interface {
	// Command returns the command this body belongs to.
	Command() Command
	// DecodeJSON resets the value and decodes data strictly, without reflection.
	// Errors are *SyntaxError or *FieldError (see ErrSyntax, ErrType).
	DecodeJSON(data []byte) error
	// AppendJSON appends the value's JSON, byte-identical to encoding/json.Marshal.
	AppendJSON(dst []byte) []byte
	// AppendWire appends the value's wire form, the flat binary layout the host
	// hands SDK guests instead of JSON (docs/abi.md, "wire input"). Offsets count
	// from len(dst) on entry, so the appended part dst[len(dst):] is a complete
	// wire buffer whatever dst held before. It allocates only to grow dst, and
	// the result is at most a few times the size of the value's JSON. A map is
	// written in map order, so the bytes of a value with a map are not
	// deterministic (no request has one today); its decoding is.
	AppendWire(dst []byte) []byte
	// DecodeWire resets the value and decodes data, a wire buffer as AppendWire
	// writes it. It copies data once and every string of the value points into
	// that copy (inside a WebAssembly guest the copy is carved from a 64 KiB
	// block shared with other decodes' copies), so the value stays valid when
	// data is reused; lists, pointers
	// and nested structs are allocated as needed, never more than a small
	// multiple of len(data). Malformed input of any kind, including offsets,
	// lengths and counts past the end, is an error matching ErrWire that names
	// the field and the slot; it never panics. On error the value is unspecified.
	DecodeWire(data []byte) error
}

// Reply is the reply to one command. Every reply embeds CommonResp.
type Reply interface {
	// Command returns the command this reply answers.
	Command() Command
	// Common returns the five fields every reply has (nil for a nil pointer).
	Common() *CommonResp
	// DecodeJSON resets the value and decodes data strictly, without reflection.
	DecodeJSON(data []byte) error
	// AppendJSON appends the value's JSON, byte-identical to encoding/json.Marshal.
	AppendJSON(dst []byte) []byte
}

// NewRequest returns a new zero request of c's type, or nil for an invalid c.
func NewRequest(c Command) Request { return newRequest(c) }

// NewReply returns a new zero reply of c's type, or nil for an invalid c. A zero
// reply means "continue" but, for commands where Echoes is true, it would also
// blank fields: use Neutral for those.
func NewReply(c Command) Reply { return newReply(c) }

// CommandName returns the name OpenIM sends command under today: name itself
// for a current name, the current name for a legacy one, false for a name
// OpenIM never sends. It is the sandbox's EngineOptions.Commands.
func CommandName(name string) (string, bool) {
	c, ok := Lookup(name)
	if !ok {
		return "", false
	}
	return c.String(), true
}
