package wasmcheck

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestExamplesFit builds each plugin under examples/ (with its names and
// symbols, larger than a release build) and requires it to stay under a
// quarter of every limit, and under half the section entries (Go's data
// segments). The figures are logged: docs/sandbox.md quotes them.
func TestExamplesFit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example plugins")
	}
	mains, _ := filepath.Glob(filepath.Join("..", "..", "..", "examples", "*", "main.go"))
	if len(mains) == 0 {
		t.Fatal("no examples")
	}
	for _, main := range mains {
		name := filepath.Base(filepath.Dir(main))
		t.Run(name, func(t *testing.T) {
			wasm := wasmbuild.GoOnce(t, "./"+filepath.Dir(main), wasmbuild.Options{})
			got, err := Measure(wasm)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bytes: %+v", len(wasm), got)
			g, l := reflect.ValueOf(got), reflect.ValueOf(Default)
			for i := range g.NumField() {
				share := 4
				if g.Type().Field(i).Name == "Entries" {
					share = 2
				}
				if v, max := g.Field(i).Uint(), l.Field(i).Uint(); v*uint64(share) > max {
					t.Errorf("%s is %d, over 1/%d of its limit %d", g.Type().Field(i).Name, v, share, max)
				}
			}
		})
	}
}
