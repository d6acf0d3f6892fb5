package plugins

import "github.com/imhook/imhook/plugins/internal/wasmrewrite"

// prepare rewrites a module before it is compiled: Go emits tens of thousands
// of data segments, which wazero applies one by one at every instantiation;
// merging them into a few halves the start of each instance (docs/metering.md,
// "Merging data segments"). The rewrite is deterministic, so the compilation
// cache, keyed by the bytes compiled, still hits across restarts. A module the
// rewriter does not support is compiled as uploaded. Identity (Plugin.Hash,
// ModuleInfo) stays that of the uploaded bytes.
//
// This is also where wasmrewrite.Meter goes when an instruction budget
// replaces the wall-clock CPU limit (see cpu.go).
func prepare(wasm []byte) []byte {
	merged, err := wasmrewrite.MergeDataSegments(wasm)
	if err != nil {
		return wasm // unsupported or malformed: compile reports the latter
	}
	return merged
}
