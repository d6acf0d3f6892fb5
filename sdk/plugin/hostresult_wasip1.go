//go:build wasip1

package plugin

import "github.com/imhook/imhook/sdk/abi"

// The two imports of ABI v1's results-and-errors convention (docs/abi.md,
// "Results and errors"), shared by every fallible host function's binding:
// the message of the last failure, and output kept because it did not fit.

//go:wasmimport imhook last_error
func hostLastError(bufPtr, bufCap uint32) int32

//go:wasmimport imhook take_result
func hostTakeResult(bufPtr, bufCap uint32) int32

// lastError returns the host's error of status s with its message.
func lastError(s abi.Status) error {
	var small [256]byte
	n := hostLastError(bytesAddr(small[:]), uint32(len(small)))
	msg := small[:max(0, min(int(n), len(small)))]
	if int(n) > len(small) {
		big := make([]byte, n)
		hostLastError(bytesAddr(big), uint32(len(big)))
		msg = big
	}
	return &HostError{Status: s, Msg: string(msg)}
}
