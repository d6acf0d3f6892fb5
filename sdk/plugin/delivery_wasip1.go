//go:build wasip1

package plugin

//go:wasmimport imhook delivery
func hostDelivery(bufPtr, bufCap uint32) int32

//go:wasmimport imhook retry
func hostRetry(delayMS int64) int32

func (wasmHost) delivery(dst []byte) int {
	return int(hostDelivery(bytesAddr(dst), uint32(len(dst))))
}

func (wasmHost) retry(delayMS int64) int {
	return int(hostRetry(delayMS))
}
