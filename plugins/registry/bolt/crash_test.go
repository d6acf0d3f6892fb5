package bolt_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/plugins/registry/bolt"
	"github.com/imhook/imhook/plugins/registry/registrytest"
	"github.com/imhook/imhook/plugins/store/boltdb"
)

// crashEnv switches the test binary into the child role of TestCrash: the
// value is the registry file, then the round number.
const crashEnv = "IMHOOK_REGISTRY_CRASH_CHILD"

// ack is what the child reported after a commit returned.
type ack struct {
	plugin, hash string // the plugin's active version after the commit
	rev          uint64 // the tenant's revision after the commit
}

// TestCrash runs a child process that uploads, activates and rolls back
// plugin versions in a loop, SIGKILLs it at random moments, and checks after
// each kill that the file reopens consistent with everything acknowledged.
func TestCrash(t *testing.T) {
	if v := os.Getenv(crashEnv); v != "" {
		crashChild(v)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "registry.db")
	last := map[string]ack{} // per plugin, over all rounds
	var lastRev uint64
	orphanRounds := 0
	const rounds = 10
	for round := range rounds {
		acks := runChild(t, path, round)
		for _, a := range acks {
			last[a.plugin] = a
			lastRev = max(lastRev, a.rev)
		}

		s, err := bolt.Open(path, boltdb.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		ctx := t.Context()
		if err := registrytest.Check(ctx, s, true); err != nil {
			t.Fatalf("round %d: after kill: %v", round, err)
		}
		if registrytest.Check(ctx, s, false) != nil {
			orphanRounds++
		}
		r, err := registry.New(ctx, s, registry.Options{}) // collects orphans
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := registrytest.Check(ctx, s, false); err != nil {
			t.Fatalf("round %d: after startup garbage collection: %v", round, err)
		}
		if rev, _ := s.Revision(ctx); rev < lastRev {
			t.Fatalf("round %d: revision %d, but the child acknowledged %d", round, rev, lastRev)
		}
		tn, err := r.Tenant(ctx, "acme")
		if err != nil && len(last) > 0 {
			t.Fatalf("round %d: %v", round, err)
		}
		for name, a := range last {
			p, ok := tn.Plugin(name)
			if !ok {
				t.Fatalf("round %d: acknowledged plugin[%s] is gone", round, name)
			}
			// Either the acknowledged version is active, or a later commit
			// (made after the acknowledgement, or before it was printed)
			// changed it.
			if p.Active != a.hash && tn.Revision <= a.rev {
				t.Fatalf("round %d: plugin[%s] active %.12s at revision %d, acknowledged %.12s at revision %d",
					round, name, p.Active, tn.Revision, a.hash, a.rev)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledgements, last revision %d", round, len(acks), lastRev)
	}
	if lastRev == 0 {
		t.Fatal("the child never acknowledged a commit")
	}
	t.Logf("%d of %d kills left orphan blobs for garbage collection", orphanRounds, rounds)
}

// runChild starts the child on path, kills it at a random moment and
// returns what it acknowledged.
func runChild(t *testing.T, path string, round int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", crashEnv, path, round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var (
		mu   sync.Mutex
		acks []ack
	)
	first := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ACK" {
				continue // a line cut by the kill
			}
			rev, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				continue
			}
			mu.Lock()
			acks = append(acks, ack{plugin: f[1], hash: f[2], rev: rev})
			if len(acks) == 1 {
				close(first)
			}
			mu.Unlock()
		}
	}()

	// Most rounds kill in the middle of the work; some kill while the
	// child is still opening the file and collecting garbage.
	if round%4 != 3 {
		select {
		case <-first:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("round %d: child acknowledged nothing in 20s", round)
		}
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-read
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("round %d: child ended with %v before it was killed", round, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return acks
}

// crashChild is the child's side: it changes the registry until killed,
// printing "ACK <plugin> <active hash> <revision>" after each commit.
func crashChild(arg string) {
	path, roundStr, _ := strings.Cut(arg, ",")
	round, _ := strconv.Atoi(roundStr)
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	// Exit if the parent forgets us.
	time.AfterFunc(60*time.Second, func() { os.Exit(3) })

	ctx := context.Background()
	s, err := bolt.Open(path, boltdb.Options{Timeout: 10 * time.Second})
	if err != nil {
		fail(err)
	}
	r, err := registry.New(ctx, s, registry.Options{})
	if err != nil {
		fail(err)
	}
	if _, _, err := r.CreateTenant(ctx, "acme", registry.Settings{KeepVersions: 3}); err != nil && !errors.Is(err, registry.ErrExists) {
		fail(err)
	}
	report := func(tn *registry.Tenant, plugin string) {
		p, _ := tn.Plugin(plugin)
		fmt.Printf("ACK %s %s %d\n", plugin, p.Active, tn.Revision)
	}
	pad := strings.Repeat("x", 64<<10)
	for i := 0; ; i++ {
		plugin := fmt.Sprintf("p%d", i%3)
		// Blobs of 64 KiB to 112 KiB so writes span many pages.
		data, info := registrytest.Blob(fmt.Sprintf("round %d upload %d %s", round, i, pad[:(i%4)*len(pad)/4]) + pad + pad[:i%977])
		if _, _, err := r.AddVersion(ctx, "acme", plugin, data, info, registry.AnyRevision); err != nil {
			fail(err)
		}
		tn, err := r.Activate(ctx, "acme", plugin, info.Hash, registry.AnyRevision)
		if err != nil {
			fail(err)
		}
		report(tn, plugin)
		if i%4 == 3 {
			tn, err = r.Rollback(ctx, "acme", plugin, registry.AnyRevision)
			if err == nil {
				report(tn, plugin)
			} else if !errors.Is(err, registry.ErrNotFound) {
				fail(err)
			}
		}
		if i%7 == 6 {
			tn, err := r.Tenant(ctx, "acme")
			if err != nil {
				fail(err)
			}
			s := tn.Settings
			s.KeepVersions = 2 + i%3
			if _, err := r.SetSettings(ctx, "acme", s, tn.Revision); err != nil && !errors.Is(err, registry.ErrConflict) {
				fail(err)
			}
		}
	}
}
