package plugins

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestWATFixtures requires every .wat in the repository to have its .wasm beside
// it, equal to what wat2wasm makes of the .wat: tests load the committed
// .wasm, so that they need no wabt, and a .wat edited without rebuilding it
// would test nothing. A .wat that is invalid on purpose says so in a comment
// line holding "wat2wasm --no-check".
func TestWATFixtures(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("the .wasm fixtures beside .wat files are not checked: " + wasmbuild.ErrNoWat2Wasm.Error())
	}
	root := moduleRoot(t)
	var sources []string
	// A walk, not git ls-files: go test then sees the directories read, and
	// reruns the test when a fixture is added.
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		switch {
		case d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "build"):
			return filepath.SkipDir // .git, and `make`'s outputs
		case !d.IsDir() && strings.HasSuffix(name, ".wat"):
			sources = append(sources, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) == 0 {
		t.Fatalf("no .wat under %s", root)
	}
	for _, src := range sources {
		rel, _ := filepath.Rel(root, src)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			t.Parallel()
			opts := wasmbuild.WATOptions{NoCheck: invalidOnPurpose(t, src)}
			wasm := strings.TrimSuffix(rel, ".wat") + ".wasm"
			regen := "wat2wasm " + rel + " -o " + wasm
			if opts.NoCheck {
				regen += " --no-check"
			}
			want, err := wasmbuild.WAT(t.Context(), src, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, wasm))
			switch {
			case errors.Is(err, fs.ErrNotExist):
				t.Errorf("%s is missing; create it, in %s, with\n\t%s", wasm, root, regen)
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(got, want):
				t.Errorf("%s is not what wat2wasm makes of %s; regenerate it, in %s, with\n\t%s", wasm, rel, root, regen)
			}
		})
	}
}

// invalidOnPurpose reports whether the .wat says it is built with
// wat2wasm --no-check. Reading it here also makes go test rerun the test
// when the .wat changes.
func invalidOnPurpose(t *testing.T, wat string) bool {
	t.Helper()
	f, err := os.Open(wat)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if strings.HasPrefix(line, ";;") && strings.Contains(line, "wat2wasm --no-check") {
			return true
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return false
}

// moduleRoot is the repository's root: the main module's directory, the
// parent of this package's. The walk covers the SDK's module (sdk/) too.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", dir, err)
	}
	return dir
}
