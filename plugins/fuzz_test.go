package plugins

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/imhook/imhook/sdk/abi"
)

// FuzzGuestMemoryRead makes a guest return arbitrary packed results and checks
// that the host answers a reply that lies inside guest memory, nothing, or a
// typed error, and never panics.
func FuzzGuestMemoryRead(f *testing.F) {
	e := newTestEngine(f, EngineOptions{})
	lim := testLimits()
	lim.MaxOutputBytes = 32 << 10
	p := load(f, newTestTenant(f, e, SandboxOptions{Limits: lim}), "raw", wat(f, "raw_result"))
	for _, v := range []uint64{
		0,
		abi.PackPointer(0, 32),     // the command list
		abi.PackPointer(65535, 1),  // last byte of memory
		abi.PackPointer(65535, 2),  // one past the end
		abi.PackPointer(0, 40<<10), // over the output limit
		abi.PackError(0, 8),        // an error message
		abi.PackPointer(abi.MaxPointer, 0xffffffff),
		1 << 63, // error bit, empty message
	} {
		f.Add(binary.LittleEndian.AppendUint64(nil, v))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply, _, err := p.Call(context.Background(), seedCommand, body, nil)
		if len(body) < 8 {
			if reply != nil || err != nil {
				t.Fatalf("short body: %q, %v", reply, err)
			}
			return
		}
		res := abi.Unpack(binary.LittleEndian.Uint64(body))
		switch k := KindOf(err); {
		case err == nil && res.Len == 0:
			if reply != nil {
				t.Fatalf("empty result gave reply %q", reply)
			}
		case err == nil:
			if res.Error || uint64(res.Ptr)+uint64(res.Len) > 65536 || len(reply) != int(res.Len) {
				t.Fatalf("result %+v gave reply of %d bytes", res, len(reply))
			}
			if res.Ptr == 0 && res.Len >= 32 && !bytes.HasPrefix(reply, []byte(seedCommand)) {
				t.Fatalf("reply %q is not guest memory", reply[:32])
			}
		case k == KindGuestError || k == KindBadReply || k == KindOutputSize:
		default:
			t.Fatalf("result %+v: unexpected error %v", res, err)
		}
	})
}
