package plugins

import "github.com/imhook/imhook/plugins/limits"

// stackBudget is the call stack a metered guest's calls may nest into, in
// bytes of estimated frames (wasmrewrite.StackGlobal): a quarter of its
// memory cap, 8 MiB by default. The stack lives outside linear memory, in
// memory the host allocates; without the budget wazero lets one call's stack
// grow to 84 MB.
func stackBudget(l limits.Limits) uint64 {
	return uint64(l.MemoryPages) << 16 / 4
}
