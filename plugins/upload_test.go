package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/internal/wasmcheck"
)

// attackFiles returns the hostile uploads of testdata/attacks (made by
// plugins/internal/wasmcheck's TestAttacks) by name.
func attackFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "attacks", "*.wasm"))
	if len(files) == 0 {
		t.Fatal("no testdata/attacks/*.wasm")
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".wasm")] = b
	}
	return out
}

// TestHostileUploads loads each attack (counts that made wazero allocate
// gigabytes, shapes that took it seconds to minutes to compile) while
// another tenant is called from two goroutines. Each is refused before
// wazero sees it, with wasmcheck's message in a *LoadError, and the other
// tenant sees no failure.
func TestHostileUploads(t *testing.T) {
	e := newTestEngine(t, EngineOptions{})
	good := newTestTenant(t, e, SandboxOptions{ID: "good"})
	stop := hammer(t, load(t, good, "echo", wat(t, "echo")))
	evil := newTestTenant(t, e, SandboxOptions{ID: "evil"})
	for name, wasm := range attackFiles(t) {
		want := wasmcheck.Check(wasm, wasmcheck.Default)
		for _, how := range []string{"inspect", "load"} {
			var err error
			if how == "inspect" {
				_, err = e.Inspect(context.Background(), wasm, testLimits())
			} else {
				_, err = evil.Load(context.Background(), "hostile", wasm)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.Kind != KindInvalidModule || !errors.Is(err, ErrInvalidModule) {
				t.Errorf("%s %s: %v, want a *LoadError of kind invalid_module", how, name, err)
				continue
			}
			if want == nil || le.Err == nil || le.Err.Error() != want.Error() {
				t.Errorf("%s %s: %v, want wasmcheck's %v", how, name, le.Err, want)
			}
		}
	}
	if calls, fails := stop(); fails != 0 || calls == 0 {
		t.Errorf("good tenant: %d of %d calls failed during the uploads", fails, calls)
	}
	if p, err := evil.Load(context.Background(), "echo", wat(t, "echo")); err != nil {
		t.Errorf("the tenant loads a good module after the attacks: %v", err)
	} else if r, _, err := p.Call(context.Background(), seedCommand, []byte("ok"), nil); err != nil || string(r) != "ok" {
		t.Errorf("call after the attacks: %q, %v", r, err)
	}
}

// TestCheckedDespiteCache stores a metered form for an attack's hash in the
// cache directory, as a version of imhook without wasmcheck would have left
// it: the module is refused all the same, as a poisoned registry's would be
// after an upgrade.
func TestCheckedDespiteCache(t *testing.T) {
	dir := t.TempDir()
	e := newTestEngine(t, EngineOptions{CacheDir: dir})
	bomb := attackFiles(t)["element_segments"]
	path := e.preparedPath(hashOf(bomb))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, wat(t, "echo"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := e.Inspect(context.Background(), bomb, testLimits())
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "declares 4294967295 element segments") {
		t.Fatalf("Inspect: %v, want the element count refused", err)
	}
}

// TestCompileTimeout requires a compile that outlives
// EngineOptions.CompileTimeout to be refused with a message saying so, not
// as the cpu_time of a deadline that passed while compiling.
func TestCompileTimeout(t *testing.T) {
	// A fresh cache: a module found compiled in the cache compiles at once.
	e := newTestEngine(t, EngineOptions{CacheDir: t.TempDir(), CompileTimeout: time.Nanosecond})
	_, err := e.Inspect(context.Background(), wat(t, "echo"), testLimits())
	var le *LoadError
	if !errors.As(err, &le) || le.Kind != KindInvalidModule ||
		!strings.Contains(err.Error(), "compiling took longer than 1ns; the module is too large") {
		t.Fatalf("Inspect: %v, want a *LoadError about the compile time", err)
	}
}

// TestCompileAbandoned requires a compile whose caller gave up to fail with
// the caller's error, not as an invalid module.
func TestCompileAbandoned(t *testing.T) {
	e := newTestEngine(t, EngineOptions{CacheDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Inspect(ctx, wat(t, "echo"), testLimits())
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Inspect: %v, want context.Canceled and no invalid module", err)
	}
}
