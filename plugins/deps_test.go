package plugins

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDependencies enforces the import rule of plugins: wazero and sdk yes;
// the HTTP server, the config loader and the host no.
func TestDependencies(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/valyala/fasthttp", "github.com/knadh/koanf", "github.com/imhook/imhook/host", "github.com/imhook/imhook/cmd"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("plugins depends on %s", dep)
			}
		}
	}
}
