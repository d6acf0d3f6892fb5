// Package openim is OpenIM's webhook ("callback") protocol as Go types: one
// request and one reply struct per command, command constants with their phase
// and webhooks.yml key, a strict reflection-free JSON codec, and the reply rules
// a host needs (neutral replies, stops, merging plugin replies, applying a reply
// to the request the next plugin sees).
//
// The same types serve the imhook host and plugin authors inside a wasm guest,
// so the package uses the standard library only and builds for
// GOOS=wasip1 GOARCH=wasm.
//
// # Where the types come from
//
// Everything per command is generated (z*.go) from internal/gen/catalog.json, a
// verbatim copy of the verified OpenIM catalog, plus internal/gen/protocol.json,
// a small hand-kept overlay (nested type names, embedding, reply rules). A new
// OpenIM version is a data change: replace the catalog copy and run
//
//	go generate ./sdk/openim
//
// docs/protocol.md describes the mapping, the validation rules and the quirks.
//
// # Mapping
//
// A command named callbackXCommand has the constant X, the request XReq and the
// reply XResp. Catalog types map as: T|null to *T, T[] to []T (nil encodes as
// null, as OpenIM sends it), object|null to *Struct, base64-string|null to
// []byte, map<string,bool>|null to map[string]bool. Every reply embeds
// CommonResp. Field order is OpenIM's, so AppendJSON of a decoded request
// reproduces OpenIM's body byte for byte (apart from whitespace).
//
// # Decoding
//
// DecodeJSON accepts exactly what encoding/json.Unmarshal accepts into the same
// type and produces the same value, with two documented differences: it stops
// at the first error, and base64 fields ([]byte) must be JSON strings (encoding/json
// also takes an array of numbers). Numbers must be integers in the field's range;
// null leaves non-pointer fields unchanged; unknown keys are ignored; the last
// of duplicate keys wins; keys match exactly first and then case-insensitively,
// as in encoding/json; invalid UTF-8 and lone surrogates become U+FFFD. Errors
// are *FieldError or *SyntaxError and match ErrSyntax, ErrType or ErrTooLarge
// with errors.Is. ParseRequest adds the host's checks (command, limits).
//
// # Encoding
//
// AppendJSON writes exactly what encoding/json.Marshal writes for the same value:
// numbers as numbers, nil slices, maps and pointers as null, <, > and & escaped,
// U+2028 and U+2029 escaped, invalid UTF-8 as \ufffd, []byte as base64.
//
// # Wire form
//
// Requests also have a flat binary form for the host to hand SDK guests, which
// decodes in straight-line code: AppendWire writes it, DecodeWire reads it
// (copying the input once; errors match ErrWire). docs/protocol.md says why and
// docs/abi.md has the layout.
//
// Values are not safe for concurrent mutation; decoding and encoding different
// values from several goroutines is safe.
package openim

//go:generate go run ./internal/gen
