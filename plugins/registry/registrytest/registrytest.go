// Package registrytest is the conformance suite for registry.Backend
// implementations. A backend passes when Run passes against it:
//
//	func TestConformance(t *testing.T) {
//		registrytest.Run(t, func(t *testing.T) registry.Backend {
//			b, err := mybackend.Open(...) // a fresh, empty store
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// The suite checks the Backend contract directly and the Registry's rules
// on top of it, including a hammer test of concurrent uploads and
// activations. Check verifies a store's invariants and is also meant for
// crash tests.
package registrytest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imhook/imhook/plugins/registry"
)

// Commands used by the suite's fake versions.
const (
	CmdBeforeSend = "callbackBeforeSendSingleMsgCommand"
	CmdAfterSend  = "callbackAfterSendSingleMsgCommand"
)

// Blob returns fake .wasm bytes derived from seed and the VersionInfo an
// inspection would report for them, declaring commands (CmdBeforeSend when
// none are given). The Registry does not look inside blobs, so these need
// not be valid modules.
func Blob(seed string, commands ...string) ([]byte, registry.VersionInfo) {
	if len(commands) == 0 {
		commands = []string{CmdBeforeSend}
	}
	b := append([]byte("\x00asm\x01\x00\x00\x00"), seed...)
	sum := sha256.Sum256(b)
	return b, registry.VersionInfo{
		Hash:       hex.EncodeToString(sum[:]),
		Size:       int64(len(b)),
		ABIVersion: 1,
		Commands:   commands,
	}
}

// Check verifies the invariants every committed state must satisfy and
// returns the first violation:
//
//   - every tenant document decodes and is listed under its own ID;
//   - no tenant's Revision exceeds the store's Revision;
//   - plugin names are unique per tenant and versions unique per plugin;
//   - every active hash and every history entry is one of the plugin's versions;
//   - every version has its blob, of the recorded size;
//   - when orphansAllowed is false, no blob exists that no version refers to.
func Check(ctx context.Context, b registry.Backend, orphansAllowed bool) error {
	rev, err := b.Revision(ctx)
	if err != nil {
		return fmt.Errorf("revision: %w", err)
	}
	tenants, err := b.List(ctx)
	if err != nil {
		return fmt.Errorf("list: %w", err)
	}
	refs := map[string]map[string]bool{}
	for i, t := range tenants {
		if i > 0 && tenants[i-1].ID >= t.ID {
			return fmt.Errorf("list not sorted by ID: %s before %s", tenants[i-1].ID, t.ID)
		}
		if t.Revision == 0 || t.Revision > rev {
			return fmt.Errorf("tenant[%s]: revision %d, store revision %d", t.ID, t.Revision, rev)
		}
		got, err := b.Get(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("tenant[%s]: listed but Get fails: %w", t.ID, err)
		}
		if got.ID != t.ID || got.Revision != t.Revision {
			return fmt.Errorf("tenant[%s]: Get returns tenant[%s] revision %d, List revision %d", t.ID, got.ID, got.Revision, t.Revision)
		}
		refs[t.ID] = map[string]bool{}
		names := map[string]bool{}
		for _, p := range t.Plugins {
			if names[p.Name] {
				return fmt.Errorf("tenant[%s] plugin[%s]: listed twice", t.ID, p.Name)
			}
			names[p.Name] = true
			hashes := map[string]bool{}
			for _, v := range p.Versions {
				if hashes[v.Hash] {
					return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: listed twice", t.ID, p.Name, v.Hash)
				}
				hashes[v.Hash] = true
				refs[t.ID][v.Hash] = true
				data, err := b.Blob(ctx, t.ID, v.Hash)
				if err != nil {
					return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: blob: %w", t.ID, p.Name, v.Hash, err)
				}
				if int64(len(data)) != v.Size {
					return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: blob is %d bytes, version says %d", t.ID, p.Name, v.Hash, len(data), v.Size)
				}
				sum := sha256.Sum256(data)
				if hex.EncodeToString(sum[:]) != v.Hash {
					return fmt.Errorf("tenant[%s] plugin[%s] version[%s]: blob content does not match its hash", t.ID, p.Name, v.Hash)
				}
			}
			if p.Active != "" && !hashes[p.Active] {
				return fmt.Errorf("tenant[%s] plugin[%s]: active version[%s] is not among its versions", t.ID, p.Name, p.Active)
			}
			for _, h := range p.History {
				if !hashes[h] {
					return fmt.Errorf("tenant[%s] plugin[%s]: history names version[%s], not among its versions", t.ID, p.Name, h)
				}
			}
		}
	}
	owners, err := b.BlobTenants(ctx)
	if err != nil {
		return fmt.Errorf("blob tenants: %w", err)
	}
	for _, id := range owners {
		blobs, err := b.Blobs(ctx, id)
		if err != nil {
			return fmt.Errorf("tenant[%s]: blobs: %w", id, err)
		}
		if !slices.IsSortedFunc(blobs, func(a, b registry.BlobInfo) int { return strings.Compare(a.Hash, b.Hash) }) {
			return fmt.Errorf("tenant[%s]: blobs not sorted by hash", id)
		}
		for _, bi := range blobs {
			if !orphansAllowed && !refs[id][bi.Hash] {
				return fmt.Errorf("tenant[%s] blob[%s]: no version refers to it", id, bi.Hash)
			}
		}
	}
	return nil
}

// Run runs the conformance suite. open must return a fresh, empty backend
// and arrange for it to be closed when t ends.
func Run(t *testing.T, open func(t *testing.T) registry.Backend) {
	t.Run("Backend", func(t *testing.T) { runBackend(t, open) })
	t.Run("Registry", func(t *testing.T) { runRegistry(t, open) })
	t.Run("Hammer", func(t *testing.T) { runHammer(t, open) })
}

// newRegistry opens a fresh backend and a Registry on it.
func newRegistry(t *testing.T, open func(t *testing.T) registry.Backend) (*registry.Registry, registry.Backend) {
	t.Helper()
	b := open(t)
	r, err := registry.New(t.Context(), b, registry.Options{})
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	return r, b
}

// wantErr fails t unless err wraps want (nil meaning success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// mustCheck fails t when the backend's invariants do not hold.
func mustCheck(t *testing.T, b registry.Backend) {
	t.Helper()
	if err := Check(t.Context(), b, false); err != nil {
		t.Fatalf("invariants: %v", err)
	}
}
