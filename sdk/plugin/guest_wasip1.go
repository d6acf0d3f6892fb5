//go:build wasip1

package plugin

import (
	"unsafe"

	"github.com/imhook/imhook/sdk/abi"
)

// This file is the WebAssembly side of the ABI described in package abi: the
// five exports the host calls and the two host functions the SDK imports.

//go:wasmimport imhook log
func hostLog(level int32, ptr, length uint32)

//go:wasmimport imhook config
func hostConfig(keyPtr, keyLen, bufPtr, bufCap uint32) int32

// wasmHost is the real imhook host.
type wasmHost struct{}

func (wasmHost) log(level abi.LogLevel, line []byte) {
	hostLog(int32(level), bytesAddr(line), uint32(len(line)))
}

func (wasmHost) config(key string, dst []byte) int {
	return int(hostConfig(stringAddr(key), uint32(len(key)), bytesAddr(dst), uint32(len(dst))))
}

// The buffers below are package variables so the garbage collector keeps them
// alive while the host holds their addresses between calls.
var (
	// guest is the instance's Context and output buffer, reused by every call.
	guest = instance{ctx: Context{host: wasmHost{}}}
	// input is where the host writes the command name and request body.
	input []byte
	// commands is the comma-separated command list, built on first request.
	commands []byte
)

const (
	// minInput is the smallest input buffer allocated, so that the first few
	// small callbacks do not each grow it.
	minInput = 4 << 10
	// maxInput bounds the input buffer; imhook caps request bodies far below.
	maxInput = 1 << 30
)

//go:wasmexport imhook_abi_version
func exportABIVersion() uint32 { return abi.Version }

//go:wasmexport imhook_commands
func exportCommands() uint64 {
	if commands == nil {
		commands = []byte(commandList())
	}
	if len(commands) == 0 {
		return abi.PackPointer(0, 0)
	}
	return abi.PackPointer(bytesAddr(commands), uint32(len(commands)))
}

// exportInputFormats tells imhook that this guest also accepts requests in
// the wire format, which the SDK decodes several times faster than JSON.
//
//go:wasmexport imhook_input_formats
func exportInputFormats() uint32 { return abi.InputWire }

//go:wasmexport imhook_buffer
func exportBuffer(size uint32) uint64 {
	if size > maxInput {
		return 0
	}
	if input == nil || uint32(cap(input)) < size {
		// Grow to the next power of two, so a stream of slightly larger
		// bodies costs a logarithmic number of allocations.
		n := uint32(minInput)
		for n < size {
			n <<= 1
		}
		input = make([]byte, n)
	}
	input = input[:cap(input)]
	return abi.PackPointer(bytesAddr(input), uint32(len(input)))
}

//go:wasmexport imhook_handle
func exportHandle(commandLen, bodyLen uint32) uint64 {
	wire := commandLen&abi.WireFlag != 0
	commandLen &^= abi.WireFlag
	end := uint64(commandLen) + uint64(bodyLen)
	if end > uint64(len(input)) {
		// The host skipped imhook_buffer or ignored its capacity.
		b := append(guest.out[:0], "plugin: input of "...)
		b = appendUint(b, end)
		b = append(b, " bytes does not fit the buffer of "...)
		b = appendUint(b, uint64(len(input)))
		b = append(b, " bytes; call imhook_buffer with the input size first"...)
		guest.out = b
		return abi.PackError(bytesAddr(b), uint32(len(b)))
	}
	res, isErr := guest.handle(input[:commandLen], input[commandLen:end], wire)
	switch {
	case isErr:
		return abi.PackError(bytesAddr(res), uint32(len(res)))
	case res == nil:
		return 0
	}
	return abi.PackPointer(bytesAddr(res), uint32(len(res)))
}

// equalName reports whether name holds the bytes of s. It compares eight
// bytes per step: Go's string comparison goes byte by byte in WebAssembly,
// which made the command lookup cost 0.2 us for one 30-byte name, and a
// Setting's check of an unchanged 1 KiB value several microseconds.
func equalName(s string, name []byte) bool {
	n := len(s)
	if n != len(name) {
		return false
	}
	if n == 0 {
		return true
	}
	a, b := unsafe.Pointer(unsafe.StringData(s)), unsafe.Pointer(unsafe.SliceData(name))
	i := 0
	for ; i+8 <= n; i += 8 {
		// WebAssembly loads need no alignment.
		if *(*uint64)(unsafe.Add(a, i)) != *(*uint64)(unsafe.Add(b, i)) {
			return false
		}
	}
	for ; i < n; i++ {
		if *(*byte)(unsafe.Add(a, i)) != *(*byte)(unsafe.Add(b, i)) {
			return false
		}
	}
	return true
}

func appendUint(b []byte, v uint64) []byte {
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

// bytesAddr returns the linear-memory address of b's first byte (0 for an
// empty buffer that was never allocated). In wasm32 a pointer is the address.
func bytesAddr(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

func stringAddr(s string) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s))))
}

// batch is arrayBatch in the guest, which runs one call at a time.
type batch[T any] = arrayBatch[T]
