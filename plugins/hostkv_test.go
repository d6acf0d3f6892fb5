package plugins

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/state/redisstate"
	"github.com/imhook/imhook/plugins/store/boltdb"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

const singleCommand = "callbackBeforeSendSingleMsgCommand"

func boltBackend(t testing.TB) state.Backend {
	t.Helper()
	b, err := boltstate.Open(filepath.Join(t.TempDir(), "state.db"), boltstate.Options{Bolt: boltdb.Options{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func redisBackend(t testing.TB) state.Backend {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	c, err := redisdb.Open(context.Background(), redisdb.Config{Address: srv.Addr()}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return redisstate.New(c, "imhook")
}

// kvTenant is a sandbox granted kv over b, and its kvscript plugin.
type kvTenant struct {
	p      *Plugin
	quotas *atomic.Int64 // refusals counted for the tenant's metric
}

func newKVTenant(t *testing.T, e *Engine, b state.Backend, id string, lim limits.Limits) kvTenant {
	t.Helper()
	var n atomic.Int64
	q := state.Quota{MaxKeys: lim.MaxKVKeys, MaxBytes: lim.MaxKVBytes, MaxKeyBytes: lim.MaxKVKeyBytes, MaxValueBytes: lim.MaxKVValueBytes}
	var kv KV
	if b != nil {
		kv = state.NewTenant(b, id, q, func(string) { n.Add(1) })
	}
	sb := newTestTenant(t, e, SandboxOptions{ID: id, Limits: lim, Grants: limits.Grants{KV: true}, KV: kv})
	return kvTenant{p: load(t, sb, "kvscript", goWasm(t, "kvscript")), quotas: &n}
}

// script runs lines in the guest and returns its result lines.
func (k kvTenant) script(t *testing.T, lines ...string) []string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"sendID": "u", "recvID": "v", "content": strings.Join(lines, "\n")})
	reply, _, err := k.p.Call(context.Background(), singleCommand, body, nil)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	var r struct{ ErrMsg string }
	if err := json.Unmarshal(reply, &r); err != nil {
		t.Fatalf("reply %q: %v", reply, err)
	}
	return strings.Split(r.ErrMsg, "\n")
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("result %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// TestKVGrant: a module that imports kv_* loads only for a tenant granted
// kv; one that does not (an SDK plugin that never calls KV) loads for any.
func TestKVGrant(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	sb := newTestTenant(t, e, SandboxOptions{})
	_, err := sb.Load(context.Background(), "kvscript", goWasm(t, "kvscript"))
	if err == nil || !strings.Contains(err.Error(), "needs grant[kv]") || !strings.Contains(err.Error(), "imhook tenant update --grants") {
		t.Fatalf("load without grant: %v, want a refusal naming grant[kv] and what to do", err)
	}
	load(t, sb, "readsync", goWasm(t, "../examples/readsync"))
}

func TestKVHostFunctions(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	for _, backend := range []struct {
		name string
		open func(testing.TB) state.Backend
	}{{"bolt", boltBackend}, {"redis", redisBackend}} {
		t.Run(backend.name, func(t *testing.T) {
			b := backend.open(t)
			lim := testLimits()
			lim.MaxKVValueBytes = 4096
			a := newKVTenant(t, e, b, "a", lim)
			o := newKVTenant(t, e, b, "b", lim)
			wantLines(t, a.script(t,
				"get k",
				"set k hello 0",
				"get k",
				"cas k v2 99",
				"add n 41 0",
				"add n 1 60000",
				"get n",
				"add k 1 0",
				"set x:00ff bin 0",
				"get x:00ff",
				"list - - 10",
				"list k - 1",
				"del k",
				"del k",
				"set - v 0",
				"set k v -1",
				"list - - 0",
				"big large 3000",
				"big huge 5000",
				"cas new v 0",
				"cas new v 0",
			),
				`err not_found kv_get: key not found`,
				`ok `,
				`ok "hello" `,
				`err conflict kv_cas: key is at revision`,
				`ok 41`,
				`ok 42`,
				`ok "42"`,
				`err invalid kv_add: `,
				`ok `,
				`ok "bin"`,
				`ok ["\x00\xff","k","n"] next=""`,
				`ok ["k"] next="k"`,
				`ok `,
				`err not_found kv_delete: key not found`,
				`err invalid kv_set: empty key`,
				`err invalid kv_set: ttl_ms -1`,
				`ok ["\x00\xff","n"] next=""`,
				`ok 3000 true`,
				`err quota kv_set: value of 5000 bytes > max_kv_value_bytes[4096]`,
				`ok `,
				`err conflict kv_cas: key exists`,
			)
			// Tenant b passes the same keys and sees none of a's.
			wantLines(t, o.script(t, "get n", "get x:00ff", "list - - 10", "del n", "add n 1 0"),
				`err not_found`, `err not_found`, `ok [] next=""`, `err not_found`, `ok 1`)
			wantLines(t, a.script(t, "get n"), `ok "42"`)
			if a.quotas.Load() != 1 {
				t.Errorf("quota refusals counted %d, want 1", a.quotas.Load())
			}
		})
	}
}

// TestKVOpsPerCall: max_kv_ops bounds one call's operations; the next call
// has its own.
func TestKVOpsPerCall(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	lim := testLimits()
	lim.MaxKVOps = 5
	a := newKVTenant(t, e, boltBackend(t), "a", lim)
	wantLines(t, a.script(t, "gets k 10"), "err quota kv_get: 6 state operations in one call > max_kv_ops[5]")
	wantLines(t, a.script(t, "gets k 5"), "ok")
	if a.quotas.Load() != 1 {
		t.Errorf("quota refusals counted %d, want 1", a.quotas.Load())
	}
}

// TestKVNoStore: granted, but the server has no state store: unavailable,
// with what to do.
func TestKVNoStore(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	a := newKVTenant(t, e, nil, "a", testLimits())
	wantLines(t, a.script(t, "get k"), "err unavailable kv_get: this server has no state store")
}

// TestKVBadPointer: a key outside guest memory is an ABI violation: the
// guest is stopped, not answered.
func TestKVBadPointer(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	a := newKVTenant(t, e, boltBackend(t), "a", testLimits())
	for op, want := range map[string]string{
		"badptr": "kv_get: key [0x7ffffff0, +64) is outside guest memory",
		"badrev": "kv_add: result_ptr [0x7ffffff0, +8) is outside guest memory",
		"badbuf": "kv_list: buffer [0x7fff0000, +",
	} {
		body := []byte(`{"content":"` + op + `"}`)
		_, _, err := a.p.Call(context.Background(), singleCommand, body, nil)
		if KindOf(err) != KindBadReply || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: err = %v, want bad_reply with %q", op, err, want)
		}
	}
}

// TestKVConcurrentCallers: 16 calls at once add to one counter and create
// keys up to the quota; both hold exactly.
func TestKVConcurrentCallers(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, EngineOptions{})
	for _, backend := range []struct {
		name string
		open func(testing.TB) state.Backend
	}{{"bolt", boltBackend}, {"redis", redisBackend}} {
		t.Run(backend.name, func(t *testing.T) {
			lim := testLimits()
			lim.MaxKVKeys = 20
			lim.MaxInstances = 16
			a := newKVTenant(t, e, backend.open(t), "a", lim)
			var wg sync.WaitGroup
			var created atomic.Int64
			for c := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 4 {
						res := a.script(t, "add counter 1 0", "set k"+string(rune('a'+c))+string(rune('0'+i))+" v 0")
						if !strings.HasPrefix(res[0], "ok ") {
							t.Errorf("add: %s", res[0])
						}
						switch {
						case res[1] == "ok ":
							created.Add(1)
						case !strings.HasPrefix(res[1], "err quota kv_set: the tenant holds"):
							t.Errorf("set: %s", res[1])
						}
					}
				}()
			}
			wg.Wait()
			wantLines(t, a.script(t, "get counter"), `ok "64"`)
			if created.Load() != 19 { // the counter is the 20th key
				t.Fatalf("%d keys created, want 19 (max_kv_keys 20, one taken by the counter)", created.Load())
			}
		})
	}
}

// keepingKV is a tenant's real state that also keeps the last key and value
// each write was handed, as boltstate's write does when its ctx ends before
// the disk answers: the store reads them after the host function returned.
type keepingKV struct {
	KV
	mu       sync.Mutex
	key, val []byte
}

func (k *keepingKV) Set(ctx context.Context, key, value []byte, ttl time.Duration) (uint64, error) {
	k.mu.Lock()
	k.key, k.val = key, value
	k.mu.Unlock()
	return k.KV.Set(ctx, key, value, ttl)
}

// TestKVWriteOutlivesInstance: bytes a write was handed stay valid after
// the call, even once the instance is closed and its memory unmapped
// (guestmem). Before the copy, reading them here crashed the process.
func TestKVWriteOutlivesInstance(t *testing.T) {
	e := newTestEngine(t, EngineOptions{IdleTimeout: -1})
	lim := testLimits()
	q := state.Quota{MaxKeys: lim.MaxKVKeys, MaxBytes: lim.MaxKVBytes, MaxKeyBytes: lim.MaxKVKeyBytes, MaxValueBytes: lim.MaxKVValueBytes}
	kv := &keepingKV{KV: state.NewTenant(boltBackend(t), "keep", q, nil)}
	sb := newTestTenant(t, e, SandboxOptions{ID: "keep", Limits: lim, Grants: limits.Grants{KV: true}, KV: kv})
	k := kvTenant{p: load(t, sb, "kvscript", goWasm(t, "kvscript"))}
	wantLines(t, k.script(t, "set kept-key kept-value 0"), "ok")
	if n := e.releaseIdle(time.Now().Add(time.Hour)); n == 0 {
		t.Fatal("no instance released")
	}
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if string(kv.key) != "kept-key" || string(kv.val) != "kept-value" {
		t.Errorf("the store was handed %q=%q, now reads something else", kv.key, kv.val)
	}
}
