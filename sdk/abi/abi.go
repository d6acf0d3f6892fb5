// Package abi is the contract between the imhook host and a plugin compiled to
// WebAssembly: the names and signatures of the functions each side exports, how
// results are packed into integers, and the ABI version. It has no imports so that
// both the host (plugins) and guests (sdk/plugin, or a guest written in any other
// language) can depend on it.
//
// The full specification, with a walk-through of one call, is docs/abi.md. The
// constants below are the normative names.
//
// # Life of an instance
//
//  1. The host instantiates the module. If it exports "_initialize" (every Go
//     -buildmode=c-shared guest does), the host calls it first.
//  2. The host calls FuncABIVersion and refuses the module unless it returns Version.
//  3. The host calls FuncCommands once, when the module is loaded, and reads the
//     comma-separated list of commands the guest handles. The host never enters
//     the sandbox for any other command.
//  4. The host calls FuncBuffer(n) to learn where to write its input. The guest
//     returns the address and capacity of a buffer it owns and keeps reachable.
//  5. If the guest exports FuncInputFormats, the host calls it once and learns
//     whether the guest accepts the wire format (InputWire) besides JSON.
//  6. For each callback the host writes the command name followed by the request
//     body into that buffer (growing it with FuncBuffer first if it does not fit),
//     then calls FuncHandle(commandLen, bodyLen) and reads the reply the result
//     points to. One guest call and one copy each way per callback.
//
// All integers cross the boundary as wasm i32/i64; pointers are offsets into the
// guest's linear memory "memory", which the guest must export.
package abi

// Version is the ABI version this package describes. A guest returns it from
// FuncABIVersion; the host refuses any other value with an error that names both.
const Version uint32 = 1

// HostModule is the import module name under which the host provides its
// functions (FuncLog, FuncConfig). Guests import nothing else from the host
// besides the WASI preview 1 functions the host chooses to grant.
const HostModule = "imhook"

// Guest exports.
const (
	// FuncABIVersion is exported by the guest: () -> i32.
	// It returns Version. It is called once per module load.
	FuncABIVersion = "imhook_abi_version"

	// FuncCommands is exported by the guest: () -> i64.
	// It returns a Pointer (see PackPointer) to the UTF-8 list of OpenIM command
	// names the guest handles, separated by commas, for example
	// "callbackBeforeSendSingleMsgCommand,callbackBeforeSendGroupMsgCommand".
	// It is read once per module load; an empty list makes the module useless and
	// the host refuses it.
	FuncCommands = "imhook_commands"

	// FuncBuffer is exported by the guest: (size i32) -> i64.
	// It returns a Pointer to a guest-owned input buffer of at least size bytes
	// (the packed length is the buffer's full capacity). The guest must keep that
	// buffer reachable and unchanged until the next FuncBuffer call; the host
	// caches the pointer per instance and calls FuncBuffer again only when an input
	// does not fit. A guest that cannot allocate returns 0.
	FuncBuffer = "imhook_buffer"

	// FuncHandle is exported by the guest: (commandLen i32, bodyLen i32) -> i64.
	// The input buffer holds commandLen bytes of command name followed by bodyLen
	// bytes of request body: JSON, or the wire format when commandLen has
	// WireFlag set (only for guests that accept it; see FuncInputFormats).
	// The result is a packed Result:
	//
	//   - 0: no reply; the host answers with the command's neutral reply.
	//   - a Pointer with the error bit clear: the guest's JSON reply.
	//   - a Pointer with the error bit set (see PackError): a UTF-8 error message;
	//     the host applies the tenant's failure policy for the command.
	//
	// The bytes pointed to must stay valid until the next call into the instance.
	FuncHandle = "imhook_handle"

	// FuncInputFormats is optionally exported by the guest: () -> i32.
	// It returns the request encodings the guest accepts besides JSON, as a
	// set of bits (InputWire). The host reads it once per module load; a guest
	// that does not export it receives JSON only. When the guest accepts the
	// wire format, the host sends it every request it has already parsed
	// (every callback) in that format and sets WireFlag in FuncHandle's
	// commandLen; tools that only have JSON (dry runs) still send JSON.
	FuncInputFormats = "imhook_input_formats"

	// FuncInitialize is the WASI reactor initialiser. The host calls it once,
	// right after instantiation, when the guest exports it.
	FuncInitialize = "_initialize"

	// Memory is the name of the linear memory the guest must export.
	Memory = "memory"
)

// Host functions, imported by the guest from HostModule.
const (
	// FuncLog is imported by the guest: (level i32, ptr i32, len i32) -> ().
	// It records one log line of len bytes at ptr for the current call. level is a
	// LogLevel. Lines are attributed to the tenant, plugin and call by the host.
	// Log bytes are bounded per call; a guest that goes over the bound is stopped
	// and the call fails with the log limit error. A line may carry attributes
	// after LogAttrSeparator.
	FuncLog = "log"

	// FuncConfig is imported by the guest:
	// (keyPtr i32, keyLen i32, bufPtr i32, bufCap i32) -> i32.
	// It looks up the tenant's configuration value named by the key. It returns -1
	// when the key is not set. Otherwise it returns the value's length in bytes and,
	// only if that length is at most bufCap, writes the value at bufPtr; a guest
	// that receives a length larger than its buffer retries with a larger one.
	FuncConfig = "config"
)

// Host functions that can fail, or whose output has no fixed size, share
// three conventions (docs/abi.md section 3, "Results and errors"):
//
//   - They return an i32: zero or more is success (a length, a count), a
//     negative value is a Status. A failure the guest can handle (a denial,
//     a quota, a missing key, a failed out-call) is a Status, never a trap;
//     a trap is for ABI violations (a pointer outside memory).
//   - After a failure, FuncLastError gives its message, which says what was
//     denied or exceeded and what to do.
//   - Output is written to the guest's buffer when it fits. When it does not,
//     the function returns its length, writes nothing, and the host keeps it:
//     the guest reads it with FuncTakeResult into a buffer that large,
//     without repeating the operation (which may have had effects, or may
//     not give the same answer twice).
const (
	// FuncLastError is imported by the guest: (bufPtr i32, bufCap i32) -> i32.
	// It returns the length of the message of the last host function that
	// failed during the current call (0 when none did) and writes it at
	// bufPtr when it fits in bufCap.
	FuncLastError = "last_error"
	// FuncTakeResult is imported by the guest: (bufPtr i32, bufCap i32) -> i32.
	// It writes the output the last host function kept because it did not
	// fit, and returns its length; StatusNotFound when none is kept, and
	// StatusInvalid (keeping it) when bufCap is too small. Taking it
	// forgets it; so do the next host function that returns output or
	// fails, and the end of the call.
	FuncTakeResult = "take_result"
)

// The tenant's key-value state (docs/abi.md, "State"), importable only by a
// tenant granted "kv". Keys and values are bytes; a key is 1 or more bytes.
// Every function follows the results-and-errors convention above and
// returns 0 or more on success. ttl_ms 0 means no expiry. Revisions are
// unsigned 64-bit numbers; a write gives a key a new, greater one.
const (
	// FuncKVGet: (keyPtr, keyLen, bufPtr, bufCap, revPtr i32) -> i32.
	// Returns the value's length, writing it at bufPtr when it fits (else
	// kept for FuncTakeResult), and the key's revision as 8 bytes
	// little-endian at revPtr (unless revPtr is 0); StatusNotFound when
	// the key is not set or expired.
	FuncKVGet = "kv_get"
	// FuncKVSet: (keyPtr, keyLen, valPtr, valLen i32, ttlMs i64) -> i32.
	// Writes the key; returns 0.
	FuncKVSet = "kv_set"
	// FuncKVCompareAndSet:
	// (keyPtr, keyLen, valPtr, valLen i32, ttlMs, rev i64, revPtr i32) -> i32.
	// Writes the key only when its revision is rev (0: only when the key
	// does not exist), writing the new revision at revPtr (unless 0);
	// returns 0, or StatusConflict.
	FuncKVCompareAndSet = "kv_cas"
	// FuncKVDelete: (keyPtr, keyLen i32) -> i32. Returns 0, or
	// StatusNotFound when the key was not set.
	FuncKVDelete = "kv_delete"
	// FuncKVAdd: (keyPtr, keyLen i32, delta, ttlMs i64, resultPtr i32) -> i32.
	// Adds delta to the counter at key (a decimal integer; a missing key
	// is 0 and gets ttlMs, which does not change an existing key's
	// expiry) and writes the sum as 8 bytes little-endian at resultPtr
	// (unless 0); returns 0, or StatusInvalid for a value that is not an
	// integer or a sum that overflows.
	FuncKVAdd = "kv_add"
	// FuncKVList:
	// (prefixPtr, prefixLen, cursorPtr, cursorLen, limit, bufPtr, bufCap i32) -> i32.
	// Lists up to limit (1 to 1000) keys starting with prefix, in byte
	// order, after cursor (empty: from the first). The output is a
	// sequence of 4-byte little-endian lengths each followed by its bytes:
	// first the cursor of the next page (empty on the last page), then the
	// keys. Returns the output's length.
	FuncKVList = "kv_list"
)

// Status is the negative i32 a fallible host function returns on failure.
type Status int32

// Statuses. New ones may be added in later versions of ABI v1; a guest
// treats an unknown negative value as a failure and reads FuncLastError.
const (
	// StatusNotFound: no such key, or nothing to return. FuncConfig's -1.
	StatusNotFound Status = -1
	// StatusDenied: the tenant's grants do not allow this (a host function
	// without its grant, a destination outside the allowed list, an address
	// the operator's policy refuses).
	StatusDenied Status = -2
	// StatusQuota: a quota or limit would be exceeded (keys, bytes, value
	// size, operations or requests per call, concurrent requests).
	StatusQuota Status = -3
	// StatusInvalid: an argument is malformed (an empty key, a bad URL or
	// header, a buffer too small for FuncTakeResult).
	StatusInvalid Status = -4
	// StatusUnavailable: the backing service failed or could not be
	// reached (the state store, the tenant's server); retrying later may
	// work.
	StatusUnavailable Status = -5
	// StatusTimeout: the operation ran out of time (its own timeout, or
	// what was left of the callback's deadline).
	StatusTimeout Status = -6
	// StatusConflict: a compare-and-set found another revision.
	StatusConflict Status = -7
)

// String returns the status's name, or "status(N)" for other values.
func (s Status) String() string {
	switch s {
	case StatusNotFound:
		return "not_found"
	case StatusDenied:
		return "denied"
	case StatusQuota:
		return "quota"
	case StatusInvalid:
		return "invalid"
	case StatusUnavailable:
		return "unavailable"
	case StatusTimeout:
		return "timeout"
	case StatusConflict:
		return "conflict"
	}
	return "status(" + itoa(int64(s)) + ")"
}

// LogLevel is the severity passed to FuncLog. The values match log/slog.
type LogLevel int32

// Log levels.
const (
	LogDebug LogLevel = -4
	LogInfo  LogLevel = 0
	LogWarn  LogLevel = 4
	LogError LogLevel = 8
)

// LogAttrSeparator in a FuncLog line ends the message and starts its
// attributes: key=value pairs separated by single spaces, a value quoted as
// by Go's strconv.Quote when it is empty or holds a space, a quote or '='
// (logfmt). The host logs them as attributes of the line, apart from the
// message; a line without the separator is all message.
const LogAttrSeparator = '\x1f' // ASCII unit separator

// String returns the level's lower-case name, or "level(N)" for other values.
func (l LogLevel) String() string {
	switch l {
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	}
	return "level(" + itoa(int64(l)) + ")"
}

// InputWire is the FuncInputFormats bit of the imhook wire format: the request
// the host parsed, laid out as fixed 8-byte slots per field with strings and
// lists out of line (docs/abi.md, "Wire input"). A Go guest decodes it in
// straight-line code, several times faster than JSON (docs/performance.md).
const InputWire uint32 = 1 << 0

// WireFlag is set in FuncHandle's commandLen when the body after the command
// name is in the wire format rather than JSON. The host sets it only for
// guests whose FuncInputFormats include InputWire; the guest masks it off to
// get the command's length.
const WireFlag uint32 = 1 << 31

// CommandSeparator separates command names in the FuncCommands list.
const CommandSeparator = ','

// errorBit marks a FuncHandle result as an error message rather than a reply.
const errorBit = uint64(1) << 63

// MaxPointer is the largest guest address a packed result can carry: pointers
// use 31 bits because the top bit of a FuncHandle result is the error flag. Hosts
// cap guest memory below 2 GiB, so every valid address fits.
const MaxPointer = 1<<31 - 1

// PackPointer packs a guest address and a length into one i64:
//
//	ptr<<32 | len
//
// For example ptr 0x10000 and len 42 pack to 0x0001_0000_0000_002a.
// ptr must not exceed MaxPointer.
func PackPointer(ptr, length uint32) uint64 {
	return uint64(ptr)<<32 | uint64(length)
}

// PackError packs the address and length of a UTF-8 error message as a
// FuncHandle result with the error bit set:
//
//	1<<63 | ptr<<32 | len
func PackError(ptr, length uint32) uint64 {
	return errorBit | PackPointer(ptr, length)
}

// Result is a decoded FuncHandle (or FuncCommands, FuncBuffer) result.
type Result struct {
	Ptr   uint32 // guest address
	Len   uint32 // length in bytes
	Error bool   // the bytes are an error message, not a reply
}

// Empty reports whether the result is the "no reply" value 0.
func (r Result) Empty() bool { return r == Result{} }

// Unpack decodes a packed result. It is the inverse of PackPointer and PackError.
func Unpack(v uint64) Result {
	return Result{
		Ptr:   uint32(v>>32) &^ (1 << 31),
		Len:   uint32(v),
		Error: v&errorBit != 0,
	}
}

// itoa avoids importing strconv so the package stays import-free.
func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
