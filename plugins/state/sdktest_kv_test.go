// The in-memory KV of sdktest held to the state conformance suite; it
// lives in the main module because the SDK module imports nothing of it.

//go:build !wasip1

package state_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/plugins/state/statetest"
	"github.com/imhook/imhook/sdk/abi"
	"github.com/imhook/imhook/sdk/openim"
	"github.com/imhook/imhook/sdk/plugin"
	"github.com/imhook/imhook/sdk/sdktest"
)

// backend runs sdktest.KV, one per tenant, as a state.Backend, so that the
// conformance suite of imhook's stores holds the in-memory KV to the same
// semantics.
type backend struct {
	mu  sync.Mutex
	kvs map[string]*sdktest.KV
}

func (b *backend) kv(tenant string, q state.Quota) *sdktest.KV {
	b.mu.Lock()
	defer b.mu.Unlock()
	kv := b.kvs[tenant]
	if kv == nil {
		kv = sdktest.NewKV(sdktest.KVQuota{})
		b.kvs[tenant] = kv
	}
	// Zero fields of state.Quota are unlimited; sdktest's take defaults.
	big := func(v int64) int64 {
		if v == 0 {
			return 1 << 40
		}
		return v
	}
	kv.SetQuota(sdktest.KVQuota{MaxKeys: big(q.MaxKeys), MaxBytes: big(q.MaxBytes), MaxKeyBytes: int(big(int64(q.MaxKeyBytes))), MaxValueBytes: int(big(int64(q.MaxValueBytes)))})
	return kv
}

func (b *backend) Get(_ context.Context, tenant string, key []byte) (state.Entry, error) {
	v, rev, err := b.kv(tenant, state.Quota{}).Get(key)
	return state.Entry{Value: v, Rev: rev}, conv(err)
}

func (b *backend) Put(_ context.Context, tenant string, key []byte, p state.Put, q state.Quota) (uint64, error) {
	kv := b.kv(tenant, q)
	if p.IfRev == state.AnyRev {
		rev, err := kv.Set(key, p.Value, p.TTL)
		return rev, conv(err)
	}
	rev, err := kv.CompareAndSet(key, p.Value, uint64(p.IfRev), p.TTL)
	return rev, conv(err)
}

func (b *backend) Delete(_ context.Context, tenant string, key []byte) error {
	return conv(b.kv(tenant, state.Quota{}).Delete(key))
}

func (b *backend) Add(_ context.Context, tenant string, key []byte, delta int64, ttl time.Duration, q state.Quota) (int64, error) {
	n, err := b.kv(tenant, q).Add(key, delta, ttl)
	return n, conv(err)
}

func (b *backend) List(_ context.Context, tenant string, prefix, after []byte, limit int) ([][]byte, error) {
	// A backend returns up to limit keys; sdktest's pages stop at 256 KiB
	// as imhook's do, so follow its cursor.
	var keys [][]byte
	for len(keys) < limit {
		page, next, err := b.kv(tenant, state.Quota{}).List(prefix, after, limit-len(keys))
		if err != nil {
			return nil, conv(err)
		}
		keys = append(keys, page...)
		if next == nil {
			break
		}
		after = next
	}
	return keys, nil
}

func (b *backend) Usage(_ context.Context, tenant string) (state.Usage, error) {
	k, n := b.kv(tenant, state.Quota{}).Usage()
	return state.Usage{Keys: k, Bytes: n}, nil
}

func (b *backend) DeleteTenant(_ context.Context, tenant string) error {
	b.mu.Lock()
	delete(b.kvs, tenant)
	b.mu.Unlock()
	return nil
}

func (b *backend) Close() error { return nil }

// conv gives sdktest's errors the state package's type, by status.
func conv(err error) error {
	var s interface{ Status() abi.Status }
	if errors.As(err, &s) {
		return state.Errorf(s.Status(), "%s", err.Error())
	}
	return err
}

func TestKVConformance(t *testing.T) {
	statetest.Run(t, func(t *testing.T) state.Backend { return &backend{kvs: map[string]*sdktest.KV{}} })
}

// TestKVDefaults holds sdktest's default quota to imhook's (plugins/limits).
func TestKVDefaults(t *testing.T) {
	d := limits.Default()
	kv := sdktest.NewKV(sdktest.KVQuota{})
	if _, err := kv.Set(make([]byte, d.MaxKVKeyBytes+1), nil, 0); !errors.Is(conv(err), state.ErrQuota) {
		t.Errorf("key of max_kv_key_bytes+1: %v, want quota", err)
	}
	if _, err := kv.Set(make([]byte, d.MaxKVKeyBytes), make([]byte, d.MaxKVValueBytes), 0); err != nil {
		t.Errorf("key and value at their limits: %v", err)
	}
	if _, err := kv.Set([]byte("v"), make([]byte, d.MaxKVValueBytes+1), 0); !errors.Is(conv(err), state.ErrQuota) {
		t.Errorf("value of max_kv_value_bytes+1: %v, want quota", err)
	}
	for i := int64(1); i < d.MaxKVKeys; i++ {
		if _, err := kv.Set([]byte{byte(i), byte(i >> 8), byte(i >> 16)}, nil, 0); err != nil {
			t.Fatalf("key %d of %d: %v", i, d.MaxKVKeys, err)
		}
	}
	if _, err := kv.Set([]byte("one more"), nil, 0); !errors.Is(conv(err), state.ErrQuota) {
		t.Errorf("key max_kv_keys+1: %v, want quota", err)
	}
}

// TestContextKV: a handler sees the statuses as the plugin.Err* sentinels,
// with imhook's messages.
func TestContextKV(t *testing.T) {
	var got []error
	noState := false
	plugin.OnBeforeOfflinePush(func(c *plugin.Context, req *openim.BeforeOfflinePushReq) (*openim.BeforeOfflinePushResp, error) {
		kv := c.KV()
		if noState {
			_, err := kv.Get("k")
			got = []error{err}
			return nil, nil
		}
		_, err := kv.Get("absent")
		got = append(got, err)
		_, err = kv.CompareAndSet("k", []byte("v"), 0, time.Minute)
		got = append(got, err)
		_, err = kv.CompareAndSet("k", []byte("v"), 0, 0)
		got = append(got, err)
		got = append(got, kv.Set("", nil, 0))
		got = append(got, kv.Set("big", make([]byte, 100), 0))
		n, err := kv.Add("n", 41, 0)
		if n == 41 {
			n, err = kv.Add("n", 1, 0)
		}
		if n != 42 {
			t.Errorf("add = %d, %v", n, err)
		}
		keys, next, err := kv.List("", "", 1)
		if err != nil || len(keys) != 1 || keys[0] != "k" || next != "k" {
			t.Errorf("list = %q, %q, %v", keys, next, err)
		}
		got = append(got, kv.Delete("nope"))
		return nil, nil
	})
	h := sdktest.New(t, nil).WithKV(sdktest.NewKV(sdktest.KVQuota{MaxValueBytes: 16}))
	if _, err := sdktest.Do[openim.BeforeOfflinePushResp](h, &openim.BeforeOfflinePushReq{}); err != nil {
		t.Fatal(err)
	}
	want := []error{plugin.ErrNotFound, nil, plugin.ErrConflict, plugin.ErrInvalid, plugin.ErrQuota, plugin.ErrNotFound}
	for i, w := range want {
		if (w == nil) != (got[i] == nil) || (w != nil && !errors.Is(got[i], w)) {
			t.Errorf("operation %d: %v, want %v", i, got[i], w)
		}
	}
	if msg := got[4].Error(); msg != "kv_set: value of 100 bytes > max_kv_value_bytes[16]: store less, or split it over several keys" {
		t.Errorf("quota message %q", msg)
	}
	// Without state, every operation is ErrUnavailable and says so.
	noState = true
	if _, err := sdktest.Do[openim.BeforeOfflinePushResp](sdktest.New(t, nil), &openim.BeforeOfflinePushReq{}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(got[0], plugin.ErrUnavailable) {
		t.Errorf("without state: %v, want unavailable", got[0])
	}
}
