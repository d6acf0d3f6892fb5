package main

import (
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/sdk/wasmbuild"
)

// TestRunKV runs the ratelimit example through `imhook run` with a state
// file kept across runs: the counter goes on from one run to the next.
func TestRunKV(t *testing.T) {
	if testing.Short() || !goGuestUnderRace {
		t.Skip("builds and compiles a Go wasm guest: skipped with -short and -race")
	}
	t.Parallel()
	wasm := filepath.Join(t.TempDir(), "ratelimit.wasm")
	opts := wasmbuild.Options{Dir: filepath.Join("..", ".."), Output: wasm}
	if _, err := wasmbuild.Go(t.Context(), "./examples/ratelimit", opts); err != nil {
		t.Fatalf("build the example: %v", err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	base := []string{"run", wasm, "--command", single, "--config", "single_per_window=2", "--cache-dir", cache, "--call-timeout", "5s"}
	// Without state the plugin fails open, and says why.
	imhook(t, singleMsg, append(base, "--grants", "kv")...).want(t, 0, "effect:   continue", "rate limit not applied", "no state store")
	imhook(t, singleMsg, base...).want(t, 1, "needs grant[kv]")
	file := filepath.Join(t.TempDir(), "state.db")
	imhook(t, singleMsg, append(base, "--kv-file", file)...).want(t, 0, "effect:   continue")
	imhook(t, singleMsg, append(base, "--kv-file", file)...).want(t, 0, "effect:   continue")
	imhook(t, singleMsg, append(base, "--kv-file", file)...).want(t, 0, "effect:   stop", `"errCode":20002`)
	imhook(t, singleMsg, append(base, "--kv-memory")...).want(t, 0, "effect:   continue")
	imhook(t, singleMsg, append(base, "--kv-memory", "--kv-file", file)...).want(t, 2, "give one of them")
}
