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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(100, tt.fn); got > tt.max {
				t.Errorf("%s: %v allocs per run, want at most %v", tt.name, got, tt.max)
			}
		})
	}
}
