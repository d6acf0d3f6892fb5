// Command guest is the wasip1 benchmark guest of sdk/openim: it decodes the
// request the host wrote into its buffer and encodes the command's reply, either
// with sdk/openim's generated codec or with encoding/json on the same types.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guest.wasm .
package main

import (
	"encoding/json"
	"unsafe"

	"github.com/imhook/imhook/sdk/openim"
)

var (
	in  []byte
	win []byte // the same request in the wire form
	out []byte
	req openim.BeforeSendSingleMsgReq
	rep openim.BeforeSendSingleMsgResp
)

// benchBuffer returns the address of an input buffer of size bytes.
//
//go:wasmexport bench_buffer
func benchBuffer(size uint32) uint32 {
	if cap(in) < int(size) {
		in = make([]byte, size)
	}
	in = in[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(in))))
}

// benchWireBuffer returns the address of an input buffer of size bytes for the
// wire form of the request.
//
//go:wasmexport bench_wire_buffer
func benchWireBuffer(size uint32) uint32 {
	if cap(win) < int(size) {
		win = make([]byte, size)
	}
	win = win[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(win))))
}

// benchOpenIM decodes the input n times and encodes the reply n times with
// sdk/openim, and returns ptr<<32|len of the last reply (0 on a decode error).
//
//go:wasmexport bench_openim
func benchOpenIM(n uint32) uint64 {
	for range n {
		if err := req.DecodeJSON(in); err != nil {
			return 0
		}
		out = rep.AppendJSON(out[:0])
	}
	return result()
}

// benchOpenIMDecode is benchOpenIM without the encode, to split the cost. It
// returns the decoded request re-encoded as JSON, encoded once after the loop.
//
//go:wasmexport bench_openim_decode
func benchOpenIMDecode(n uint32) uint64 {
	for range n {
		if err := req.DecodeJSON(in); err != nil {
			return 0
		}
	}
	out = req.AppendJSON(out[:0])
	return result()
}

// benchOpenIMWireDecode is benchOpenIMDecode from the wire form (DecodeWire).
//
//go:wasmexport bench_openim_wire_decode
func benchOpenIMWireDecode(n uint32) uint64 {
	for range n {
		if err := req.DecodeWire(win); err != nil {
			return 0
		}
	}
	out = req.AppendJSON(out[:0])
	return result()
}

// benchOpenIMEncode is benchOpenIM without the decode.
//
//go:wasmexport bench_openim_encode
func benchOpenIMEncode(n uint32) uint64 {
	for range n {
		out = rep.AppendJSON(out[:0])
	}
	return result()
}

// benchStd is benchOpenIM with encoding/json.
//
//go:wasmexport bench_std
func benchStd(n uint32) uint64 {
	for range n {
		var r openim.BeforeSendSingleMsgReq
		if err := json.Unmarshal(in, &r); err != nil {
			return 0
		}
		b, err := json.Marshal(&rep)
		if err != nil {
			return 0
		}
		out = append(out[:0], b...)
	}
	return result()
}

func result() uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(out))))<<32 | uint64(len(out))
}

func main() {}
