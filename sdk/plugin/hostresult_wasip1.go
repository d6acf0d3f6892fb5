//go:build wasip1

package plugin

// The two imports of ABI v1's results-and-errors convention (docs/abi.md,
// "Results and errors"), shared by every fallible host function's binding:
// the message of the last failure, and output kept because it did not fit.

//go:wasmimport imhook last_error
func hostLastError(bufPtr, bufCap uint32) int32

//go:wasmimport imhook take_result
func hostTakeResult(bufPtr, bufCap uint32) int32
