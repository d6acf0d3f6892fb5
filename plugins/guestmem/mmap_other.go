//go:build !unix

package guestmem

import "github.com/tetratelabs/wazero/experimental"

// mapped is not available here: memories live in the Go heap.
func mapped(uint64, *Pool) experimental.LinearMemory { return nil }

// mmapped never exists here; the Pool keeps nothing.
type mmapped struct {
	buf []byte
	hwm uint64
}

func (m *mmapped) clear() bool { return false }
func (m *mmapped) unmap()      {}
