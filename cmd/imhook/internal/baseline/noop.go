package baseline

import _ "embed" // for NoopPlugin

// NoopPlugin is noop.wat compiled: a raw-ABI plugin that handles the
// commands examples/trivial handles and answers each with no reply without
// reading its input. Run in imhook, it leaves only the host's own cost per
// callback (variant (h) of imhook bench --compare).
//
//go:embed noop.wasm
var NoopPlugin []byte

//go:generate wat2wasm noop.wat -o noop.wasm
