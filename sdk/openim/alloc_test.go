//go:build !race

package openim

import "testing"

// TestAllocs pins the allocation counts of the hot paths: none for a neutral
// reply or an encode into a reused buffer, and only the decoded strings for a
// decode into an existing value.
func TestAllocs(t *testing.T) {
	ex := catalogExamples(t)[0] // callbackBeforeSendSingleMsgCommand
	buf := make([]byte, 0, 1024)
	req := new(BeforeSendSingleMsgReq)
	if err := req.DecodeJSON(ex.request); err != nil {
		t.Fatal(err)
	}
	wireBuf := req.AppendWire(nil) // the example's atUserList is null
	withList := *req
	withList.AtUserList = []string{"user_2", "user_3"}
	wireList := withList.AppendWire(nil)
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"AppendNeutral", 0, func() { buf = AppendNeutral(buf[:0], BeforeSendSingleMsg, nil) }},
		{"AppendJSON", 0, func() { buf = req.AppendJSON(buf[:0]) }},
		// One copy of the body shared by every string, the escaped "content"
		// included (unescaped in place); empty strings and null lists cost
		// nothing.
		{"DecodeJSON", 1, func() {
			if err := req.DecodeJSON(ex.request); err != nil {
				t.Fatal(err)
			}
		}},
		{"AppendWire", 0, func() { buf = req.AppendWire(buf[:0]) }},
		// One copy of the input, shared by every string; a null list costs
		// nothing.
		{"DecodeWire", 1, func() {
			if err := req.DecodeWire(wireBuf); err != nil {
				t.Fatal(err)
			}
		}},
		// A present list adds its slice (its strings share the copy).
		{"DecodeWire/list", 2, func() {
			if err := req.DecodeWire(wireList); err != nil {
				t.Fatal(err)
			}
		}},
		// Via new, the struct as well.
		{"DecodeWire/new", 2, func() {
			if err := new(BeforeSendSingleMsgReq).DecodeWire(wireBuf); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > tt.max {
				t.Errorf("%s: %v allocs per run, want at most %v", tt.name, got, tt.max)
			}
		})
	}
}
