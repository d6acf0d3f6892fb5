package replicas

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var (
	examplesOnce sync.Once
	examplesDir  string
	examplesErr  error
)

// exampleWasm builds the example plugins (Go guests, 2-3 MB each) once per
// test binary, as `make examples` does, and returns the .wasm of name.
func exampleWasm(t *testing.T, name string) []byte {
	t.Helper()
	examplesOnce.Do(func() {
		examplesDir, examplesErr = os.MkdirTemp("", "imhook-replicas-examples-")
		if examplesErr != nil {
			return
		}
		for _, ex := range []string{"moderation", "trivial"} {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s",
				"-o", filepath.Join(examplesDir, ex+".wasm"), "github.com/imhook/imhook/examples/"+ex)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				examplesErr = fmt.Errorf("build examples/%s: %v\n%s", ex, err, out)
				return
			}
		}
	})
	if examplesErr != nil {
		t.Fatal(examplesErr)
	}
	b, err := os.ReadFile(filepath.Join(examplesDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// burnCPU starts one busy-looping process per CPU until the test ends: the
// replicas then compete for the CPU with work they know nothing of.
func burnCPU(t *testing.T, n int) {
	t.Helper()
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	stop := func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGKILL)
			_ = c.Wait()
		}
		cmds = nil
	}
	t.Cleanup(stop)
}

// metric returns the value of the first sample of name (with labels, if
// given, e.g. `outcome="policy"`) in r's /metrics, or 0.
func (r *replica) metric(name, labels string) float64 {
	r.t.Helper()
	_, b, err := r.adminDo("GET", "/metrics", "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name) || (labels != "" && !strings.Contains(line, labels)) {
			continue
		}
		rest := strings.TrimPrefix(line, name)
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
