package wasmrewrite

import (
	"errors"
	"testing"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	// A module with a try block (exception handling), which the rewriter
	// does not decode, and two data segments.
	exceptions := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type () -> ()
		"\x03\x02\x01\x00" + // one function
		"\x05\x03\x01\x00\x01" + // memory, 1 page
		"\x0a\x06\x01\x04\x00\x06\x40\x0b" + // body: try (0x06) ...
		"\x0b\x0d\x02\x00\x41\x00\x0b\x01a\x00\x41\x01\x0b\x01b") // data "a" at 0, "b" at 1
	tests := []struct {
		name       string
		wasm       []byte
		merged     bool
		metered    bool
		notMetered string
		err        error
	}{
		{"corpus", readTestdata(t, "corpus.wasm"), true, true, "", nil}, // one segment: nothing to merge
		{"passive segments", readTestdata(t, "passive.wasm"), true, true, "", nil},
		{"unsupported opcode", exceptions, true, false, "func[0]: unsupported wasm feature: opcode 0x6 at offset 0", nil},
		{"malformed", []byte("\x00asm\x01\x00\x00\x00\x01\xff"), false, false, "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Prepare(tc.wasm, MeterOptions{})
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if p.Merged != tc.merged || p.Metered != tc.metered {
				t.Errorf("merged %v metered %v, want %v %v", p.Merged, p.Metered, tc.merged, tc.metered)
			}
			got := ""
			if p.NotMetered != nil {
				got = p.NotMetered.Error()
				if !errors.Is(p.NotMetered, ErrUnsupported) {
					t.Errorf("NotMetered %v does not wrap ErrUnsupported", p.NotMetered)
				}
			}
			if got != tc.notMetered {
				t.Errorf("NotMetered %q, want %q", got, tc.notMetered)
			}
			if p.Metered {
				validate(t, p.Wasm)
			}
		})
	}
}
