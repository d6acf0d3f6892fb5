//go:build wasip1

package plugin

import "github.com/imhook/imhook/sdk/abi"

// The out-call imports. The linker keeps them only in plugins that call
// HTTPClient.Do or Context.Secret, so a plugin without out-calls imports
// neither and needs no grant.

//go:wasmimport imhook http
func hostHTTP(reqPtr, reqLen, bufPtr, bufCap uint32) int32

//go:wasmimport imhook secret
func hostSecret(namePtr, nameLen, bufPtr, bufCap uint32) int32

// outReq and outResp are the encoding buffers of out-calls, reused: the
// guest runs one call at a time.
var outReq, outResp []byte

func (wasmHost) roundTrip(r *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	outReq = abi.AppendHTTPRequest(outReq[:0], r)
	out, err := hostOutput(func(ptr, n uint32) int32 {
		return hostHTTP(bytesAddr(outReq), uint32(len(outReq)), ptr, n)
	})
	if err != nil {
		return nil, err
	}
	resp, err := abi.ParseHTTPResponse(out)
	if err != nil {
		return nil, &HostError{Status: abi.StatusInvalid, Msg: "http: " + err.Error()}
	}
	return &resp, nil
}

func (wasmHost) secret(name string) (string, error) {
	out, err := hostOutput(func(ptr, n uint32) int32 {
		return hostSecret(stringAddr(name), uint32(len(name)), ptr, n)
	})
	return string(out), err
}

// hostOutput calls a host function that returns output by the convention
// of docs/abi.md: into outResp when it fits, else through take_result into
// a buffer that large, never calling it twice.
func hostOutput(call func(ptr, n uint32) int32) ([]byte, error) {
	if cap(outResp) < 4<<10 {
		outResp = make([]byte, 4<<10)
	}
	buf := outResp[:cap(outResp)]
	n := call(bytesAddr(buf), uint32(len(buf)))
	if n < 0 {
		return nil, lastError(abi.Status(n))
	}
	if int(n) > len(buf) {
		outResp = make([]byte, n)
		buf = outResp
		if m := hostTakeResult(bytesAddr(buf), uint32(len(buf))); m != n {
			if m < 0 {
				return nil, lastError(abi.Status(m))
			}
			return nil, &HostError{Status: abi.StatusInvalid, Msg: "take_result returned another length than the call"}
		}
	}
	return buf[:n], nil
}
