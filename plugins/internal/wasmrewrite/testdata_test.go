package wasmrewrite

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFixturesUpToDate rebuilds each testdata/*.wat with wat2wasm, when it is
// installed, and requires the committed .wasm to match. To refresh them:
//
//	for f in testdata/*.wat; do wat2wasm $f -o ${f%.wat}.wasm; done
//
// (testdata/forged_*.wat are invalid on purpose: add --no-check for them.)
func TestFixturesUpToDate(t *testing.T) {
	t.Parallel()
	wat2wasm, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm (wabt) is not installed")
	}
	sources, err := filepath.Glob(filepath.Join("testdata", "*.wat"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, src := range sources {
		t.Run(filepath.Base(src), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.wasm")
			args := []string{src, "-o", out}
			if strings.HasPrefix(filepath.Base(src), "forged_") {
				args = append(args, "--no-check") // invalid on purpose
			}
			if msg, err := exec.Command(wat2wasm, args...).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm: %v\n%s", err, msg)
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got := readTestdata(t, strings.TrimSuffix(filepath.Base(src), ".wat")+".wasm")
			if !bytes.Equal(got, want) {
				t.Errorf("committed %s.wasm is stale: rebuild it with wat2wasm", strings.TrimSuffix(src, ".wat"))
			}
		})
	}
}
