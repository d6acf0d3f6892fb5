package plugin

import (
	"testing"

	"github.com/imhook/imhook/sdk/openim"
)

// TestArrayBatch checks that every request handed out is zero, distinct and
// stays as its handler left it, and that a request costs 1/requestBatch of an
// allocation.
func TestArrayBatch(t *testing.T) {
	var b arrayBatch[openim.BeforeSendSingleMsgReq]
	seen := map[*openim.BeforeSendSingleMsgReq]int{}
	for i := range 3*requestBatch + 1 {
		r := b.next()
		if r.SendID != "" || r.Seq != 0 {
			t.Fatalf("request %d is not zero: %+v", i, r)
		}
		if j, ok := seen[r]; ok {
			t.Fatalf("request %d is request %d again", i, j)
		}
		seen[r] = i
		r.SendID, r.Seq = "kept", uint32(i)
	}
	for r, i := range seen {
		if r.SendID != "kept" || r.Seq != uint32(i) {
			t.Fatalf("request %d changed after later ones: %+v", i, r)
		}
	}
	if n := testing.AllocsPerRun(10*requestBatch, func() { b.next() }); n > 1.0/requestBatch+0.01 {
		t.Fatalf("%v allocations per request, want 1/%d", n, requestBatch)
	}
}
