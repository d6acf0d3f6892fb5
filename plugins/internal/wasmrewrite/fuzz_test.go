package wasmrewrite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins/internal/wasmcheck"
	"github.com/tetratelabs/wazero"
)

// FuzzMeter meters arbitrary bytes. Meter must not panic, and whenever wazero
// accepts the input, it must accept the metered output too (or Meter must
// refuse the input with an error). Inputs the sandbox's pre-decoder check
// refuses never reach wazero there, and must not here: wazero's decoder
// allocates from unchecked counts and a fuzzed one kills the process.
func FuzzMeter(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.wasm"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		if wasmcheck.Check(wasm, wasmcheck.Default) != nil {
			return
		}
		out, err := Meter(wasm, MeterOptions{})
		if err != nil {
			return
		}
		valid := func(b []byte) error {
			c, err := r.CompileModule(ctx, b)
			if err == nil {
				c.Close(ctx)
			}
			return err
		}
		if valid(wasm) != nil {
			return // invalid input: the output need not be valid either
		}
		if err := valid(out); err != nil {
			t.Fatalf("wazero accepts the input but not the metered output: %v", err)
		}
		if merged, err := MergeDataSegments(wasm); err == nil {
			if err := valid(merged); err != nil {
				t.Fatalf("wazero accepts the input but not the merged output: %v", err)
			}
		}
	})
}
