package plugins

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

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

// localReads makes every read of a KV run on the CPU slot.
type localReads struct{ *state.Tenant }

func (localReads) LocalReads() bool { return true }

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

// BenchmarkKVInterleaved runs every variant of BenchmarkKV once per
// iteration, in turn, and reports the median of each: on a shared machine
// whose load swings by 10x within seconds, variants measured one after the
// other are not comparable, variants interleaved are. Metrics: <variant>-p50-ns,
// get-added-ns (plugin get minus plugin noop) and, on Redis,
// plugin-get/go-redis-hmget.
//
//	go test ./plugins -run '^$' -bench KVInterleaved -benchtime 2000x
func BenchmarkKVInterleaved(b *testing.B) {
	ctx := context.Background()
	e := newTestEngine(b, EngineOptions{})
	lim := testLimits()
	q := state.Quota{MaxKeys: 1000, MaxBytes: 1 << 20, MaxKeyBytes: 64, MaxValueBytes: 1024}
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
	}{{"bolt", bolt}, {"redis", redisstate.New(rc, "ibench")}} {
		b.Run(be.name, func(b *testing.B) {
			tenant := state.NewTenant(be.b, "t1", q, nil)
			if _, err := tenant.Set(ctx, []byte("k"), make([]byte, 64), 0); err != nil {
				b.Fatal(err)
			}
			lim.MaxKVOps = 10
			sb := newTestTenant(b, e, SandboxOptions{ID: be.name, Limits: lim, Grants: limits.Grants{KV: true}, KV: tenant})
			p := load(b, sb, "kvbench", wasm)
			// As a callback: the webhook gives every call a deadline.
			cctx, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			call := func(in []byte) func() {
				return func() {
					if _, _, err := p.Call(cctx, "callbackBeforeSendSingleMsgCommand", in, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			type variant struct {
				name string
				fn   func()
			}
			get := func() {
				if _, _, err := tenant.Get(ctx, []byte("k")); err != nil {
					b.Fatal(err)
				}
			}
			add := func() {
				if _, err := tenant.Add(ctx, []byte("n"), 1, 0); err != nil {
					b.Fatal(err)
				}
			}
			// Reads and writes apart: a bbolt write's fsync parks the
			// goroutine for a quarter of a millisecond, which slows
			// whatever runs next.
			groups := [][]variant{
				{{"plugin-noop", call(body("noop"))}, {"plugin-get", call(body("get"))}, {"native-get", get}},
				{{"plugin-noop-w", call(body("noop"))}, {"plugin-add", call(body("add"))}, {"native-add", add}},
			}
			if be.name == "bolt" {
				// The same get giving the CPU slot up around the read, as
				// a store that blocks would: what offCPU would cost bbolt.
				osb := newTestTenant(b, e, SandboxOptions{ID: "offcpu", Limits: lim, Grants: limits.Grants{KV: true}, KV: remoteReads{tenant}})
				op := load(b, osb, "kvbench", wasm)
				in := body("get")
				groups[0] = append(groups[0], variant{"plugin-get-offcpu", func() {
					if _, _, err := op.Call(cctx, "callbackBeforeSendSingleMsgCommand", in, nil); err != nil {
						b.Fatal(err)
					}
				}})
			}
			if be.name == "redis" {
				key := "ibench:kv:{t1}:v:k"
				groups[0] = append(groups[0], variant{"go-redis-hmget", func() {
					if err := rc.HMGet(ctx, key, "v", "r").Err(); err != nil {
						b.Fatal(err)
					}
				}})
				// The same get keeping the CPU slot through the round
				// trip: what offCPU costs (not a production setting).
				isb := newTestTenant(b, e, SandboxOptions{ID: "inline", Limits: lim, Grants: limits.Grants{KV: true}, KV: localReads{tenant}})
				ip := load(b, isb, "kvbench", wasm)
				in := body("get")
				groups[0] = append(groups[0], variant{"plugin-get-oncpu", func() {
					if _, _, err := ip.Call(cctx, "callbackBeforeSendSingleMsgCommand", in, nil); err != nil {
						b.Fatal(err)
					}
				}})
			}
			p50 := map[string]float64{}
			for g, variants := range groups {
				samples := make([][]time.Duration, len(variants))
				for _, v := range variants {
					v.fn() // warm
				}
				n := b.N
				if g == 1 && be.name == "bolt" {
					n = min(n, 300) // each write fsyncs
				}
				for i := range n {
					// The order rotates, so that no variant always runs
					// first or after the same one.
					for j := range variants {
						k := (i + j) % len(variants)
						start := time.Now()
						variants[k].fn()
						samples[k] = append(samples[k], time.Since(start))
					}
				}
				for k, v := range variants {
					s := samples[k]
					slices.Sort(s)
					p50[v.name] = float64(s[len(s)/2].Nanoseconds())
					b.ReportMetric(p50[v.name], v.name+"-p50-ns")
				}
			}
			b.ReportMetric(p50["plugin-get"]-p50["plugin-noop"], "get-added-ns")
			b.ReportMetric(p50["plugin-add"]-p50["plugin-noop-w"], "add-added-ns")
			if hm := p50["go-redis-hmget"]; hm > 0 {
				b.ReportMetric(p50["plugin-get"]/hm, "plugin-get/go-redis-hmget")
				b.ReportMetric((p50["plugin-get"]-p50["plugin-noop"])/hm, "get-added/go-redis-hmget")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
