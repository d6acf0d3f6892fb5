//go:build !wasip1

package plugin

import (
	"encoding/binary"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// delivery implements deliveryHost for native runs: Host.Delivery, when
// set, is the delivery the handler sees.
func (h *Host) delivery(dst []byte) int {
	if h.Delivery == nil {
		return int(abi.StatusNotFound)
	}
	n := abi.DeliveryHeader + len(h.Delivery.ID)
	if n <= len(dst) {
		binary.LittleEndian.PutUint32(dst, uint32(h.Delivery.Attempt))
		copy(dst[abi.DeliveryHeader:], h.Delivery.ID)
	}
	return n
}

// retry implements deliveryHost: it reports the request to Host.OnRetry.
func (h *Host) retry(delayMS int64) int {
	if h.Delivery == nil {
		return int(abi.StatusNotFound)
	}
	if h.OnRetry != nil {
		h.OnRetry(time.Duration(delayMS) * time.Millisecond)
	}
	return 0
}
