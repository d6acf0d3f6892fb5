//go:build !unix

package guestmem

import "github.com/tetratelabs/wazero/experimental"

// mapped is not available here: memories live in the Go heap.
func mapped(uint64) experimental.LinearMemory { return nil }
