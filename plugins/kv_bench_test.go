package plugins

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/boltstate"
	"github.com/imhook/imhook/plugins/state/redisstate"
	"github.com/imhook/imhook/plugins/store/redisdb"
	"github.com/imhook/imhook/plugins/store/redisdb/redistest"
)

// remoteReads hides a KV's LocalReads, so that its reads run off the CPU
// slot like a Redis round trip: what offCPU would cost bbolt's reads.
type remoteReads struct{ *state.Tenant }

func (remoteReads) LocalReads() bool { return false }

// BenchmarkKV measures a KV get and a counter add from a plugin (one call
// of the kvbench guest doing one operation), the same call doing nothing,
// and the same operation made natively, in one run: the operation's cost
// from a plugin is op minus noop, to compare with native. bbolt is a real
// file with fsync on every write; Redis a real redis-server on loopback.
//
//	go test ./plugins -run '^$' -bench KV -benchtime 2s
func BenchmarkKV(b *testing.B) {
	ctx := context.Background()
	e := newTestEngine(b, EngineOptions{})
	lim := testLimits()
	lim.MaxKVOps = 10
	q := state.Quota{MaxKeys: 1000, MaxBytes: 1 << 20, MaxKeyBytes: 64, MaxValueBytes: 1024}
	value := make([]byte, 64)

	bolt, err := boltstate.Open(filepath.Join(b.TempDir(), "state.db"), boltstate.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer bolt.Close()
	srv := redistest.Start(b, redistest.Options{})
	rc, err := redisdb.Open(ctx, redisdb.Config{Address: srv.Addr()}.WithDefaults())
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()

	body := func(op string) []byte {
		j, _ := json.Marshal(map[string]any{"sendID": "u", "recvID": "v", "contentType": 101, "content": op})
		return j
	}
	wasm := goWasm(b, "kvbench")
	for _, be := range []struct {
		name string
		b    state.Backend
		kv   func(*state.Tenant) KV
	}{
		{"bolt", bolt, func(t *state.Tenant) KV { return t }},
		{"bolt-offcpu", bolt, func(t *state.Tenant) KV { return remoteReads{t} }},
		{"redis", redisstate.New(rc, "bench"), func(t *state.Tenant) KV { return t }},
	} {
		tenant := state.NewTenant(be.b, "t1", q, nil)
		if _, err := tenant.Set(ctx, []byte("k"), value, 0); err != nil {
			b.Fatal(err)
		}
		sb := newTestTenant(b, e, SandboxOptions{ID: be.name, Limits: lim, Grants: limits.Grants{KV: true}, KV: be.kv(tenant)})
		p := load(b, sb, "kvbench", wasm)
		for _, op := range []string{"noop", "get", "add"} {
			if be.name == "bolt-offcpu" && op != "get" {
				continue
			}
			in := body(op)
			b.Run(be.name+"/plugin-"+op, func(b *testing.B) {
				var dst []byte
				for b.Loop() {
					r, _, err := p.Call(ctx, "callbackBeforeSendSingleMsgCommand", in, dst[:0])
					if err != nil {
						b.Fatal(err)
					}
					dst = r
				}
			})
		}
		if be.name == "bolt-offcpu" {
			continue
		}
		b.Run(be.name+"/native-get", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := tenant.Get(ctx, []byte("k")); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(be.name+"/native-add", func(b *testing.B) {
			for b.Loop() {
				if _, err := tenant.Add(ctx, []byte("n"), 1, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The floor of a Redis get: one go-redis HMGET of the same key, without
	// imhook's layers.
	key := "bench:kv:{t1}:v:k"
	b.Run("redis/go-redis-hmget", func(b *testing.B) {
		for b.Loop() {
			if err := rc.HMGet(ctx, key, "v", "r").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
