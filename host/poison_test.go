package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imhook/imhook/host"
	"github.com/imhook/imhook/plugins/registry"
)

// TestPoisonedRegistry stores a hostile module (one that made wazero ask for
// 309 GB) as a tenant's active version directly in the registry, past the
// admin API's validation, as an older imhook or anyone with the store's
// credentials could have. The running server refuses to load it, and so
// does a server restarted on that store: it starts, serves the other
// tenant, and shows the refusal in the admin /readyz detail. A poisoned
// registry must not crash-loop every replica.
func TestPoisonedRegistry(t *testing.T) {
	dir := t.TempDir()
	onStore := func(c *host.Config) { c.DataDir = dir }
	e := start(t, onStore)
	e.tenant("good", registry.Settings{}, "moderation", "moderation")
	e.tenant("poisoned", registry.Settings{})
	bomb, err := os.ReadFile(filepath.Join("..", "plugins", "testdata", "attacks", "element_segments.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bomb)
	hash := hex.EncodeToString(sum[:])
	ctx := context.Background()
	info := registry.VersionInfo{Hash: hash, Size: int64(len(bomb)), ABIVersion: 1, Commands: []string{"callbackBeforeSendSingleMsgCommand"}}
	if _, _, err := e.srv.Registry().AddVersion(ctx, "poisoned", "bomb", bomb, info, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Registry().Activate(ctx, "poisoned", "bomb", hash, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	const refusal = "declares 4294967295 element segments"
	waitLoadError := func(e *env) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if st, ok := e.srv.Directory().Stats("poisoned"); ok && len(st.Plugins) == 1 && strings.Contains(st.Plugins[0].LoadError, refusal) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no load error for the poisoned version after 60s")
			}
		}
	}
	waitLoadError(e)
	e.close()

	e = start(t, onStore) // ready: start waited for the directory
	if r := e.post("/hooks/good"+sendSingle, msgBody("hello")); r.err != nil || r.status != http.StatusOK {
		t.Fatalf("the good tenant after the restart: %d %v %s", r.status, r.err, r.body)
	}
	waitLoadError(e)
	resp, err := http.Get("http://" + e.srv.AdminAddr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"tenant":"poisoned"`) || !strings.Contains(string(body), refusal) {
		t.Fatalf("admin /readyz: %d %s; want ready, with the poisoned version's refusal", resp.StatusCode, body)
	}
}
