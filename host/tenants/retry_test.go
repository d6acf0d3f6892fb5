package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/sdk/openim"
)

// flakyBlobs is a store whose blob reads fail while down is set, as a shared
// store does during an outage.
type flakyBlobs struct {
	registry.Backend
	down atomic.Bool
}

func (f *flakyBlobs) Blob(ctx context.Context, tenant, hash string) ([]byte, error) {
	if f.down.Load() {
		return nil, errors.New("store did not answer (test)")
	}
	return f.Backend.Blob(ctx, tenant, hash)
}

// TestLoadRetriedAfterStoreFailure starts the directory while the active
// version's blob cannot be read: the tenant serves nothing and reports the
// failure, then, once the store answers again, the retry loads the version
// without any registry change to trigger it.
func TestLoadRetriedAfterStoreFailure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "imhook.db"), boltdb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	store := &flakyBlobs{Backend: bs}
	d, reg := newTestDirectory(t, store)
	wasm, err := os.ReadFile("../../plugins/testdata/echo.wasm")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	hash := hex.EncodeToString(sum[:])
	if _, _, err := reg.CreateTenant(ctx, "acme", registry.Settings{}); err != nil {
		t.Fatal(err)
	}
	info := registry.VersionInfo{Hash: hash, Size: int64(len(wasm)), ABIVersion: 1,
		Commands: []string{openim.AfterGroupMsgRead.String(), openim.BeforeSendSingleMsg.String()}}
	if _, _, err := reg.AddVersion(ctx, "acme", "echo", wasm, info, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(ctx, "acme", "echo", hash, registry.AnyRevision); err != nil {
		t.Fatal(err)
	}

	store.down.Store(true)
	if err := d.Start(ctx); err != nil {
		t.Fatalf("Start with the store failing blob reads: %v (the directory must start and serve what it can)", err)
	}
	st, ok := d.Stats("acme")
	if !ok || len(st.Plugins) != 1 || st.Plugins[0].Serving != "" || st.Plugins[0].LoadError == "" {
		t.Fatalf("while the store fails: %+v, want plugin echo not serving, with its load error", st)
	}

	store.down.Store(false)
	deadline := time.Now().Add(3 * retryEvery)
	for {
		st, _ = d.Stats("acme")
		if len(st.Plugins) == 1 && st.Plugins[0].Serving == hash {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving %s after %s with the store back: %+v", hash[:12], 3*retryEvery, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Plugins[0].LoadError != "" {
		t.Fatalf("load error %q kept after the retry loaded the version", st.Plugins[0].LoadError)
	}
}
