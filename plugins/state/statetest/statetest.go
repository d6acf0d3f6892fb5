// Package statetest is the conformance suite of plugins/state backends: the
// same hostile, quota, TTL and concurrency tests run against each (bbolt on
// disk, a real redis-server), through state.Tenant as the host uses them.
package statetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imhook/imhook/plugins/state"
)

// Open returns a fresh, empty backend for one test.
type Open func(t *testing.T) state.Backend

var ctx = context.Background()

// Run runs every conformance test against backends from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b state.Backend)
	}{
		{"Isolation", testIsolation},
		{"HostileKeys", testHostileKeys},
		{"GetSetDelete", testGetSetDelete},
		{"CompareAndSet", testCompareAndSet},
		{"Add", testAdd},
		{"List", testList},
		{"ListBytes", testListBytes},
		{"TTL", testTTL},
		{"Quotas", testQuotas},
		{"QuotasConcurrent", testQuotasConcurrent},
		{"AddConcurrent", testAddConcurrent},
		{"DeleteTenant", testDeleteTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := open(t)
			tt.fn(t, b)
		})
	}
}

func want(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// must returns v, panicking on err (which fails the test with the error):
// Go passes a call's two results only as the whole argument list.
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprintf("unexpected error: %v", err))
	}
	return v
}

// hostileKeys are keys that would reach another tenant's keyspace in a
// layout that concatenated strings carelessly.
var hostileKeys = [][]byte{
	[]byte("x"),
	[]byte("../b/x"),
	[]byte("{b}:v:x"),
	[]byte("}:v:x"),
	[]byte(":x"),
	[]byte("b"),
	[]byte("*"),
	[]byte("[x"),
	[]byte("\x00"),
	[]byte("\x00b\x00x"),
	[]byte("\xff\xfe"),
	[]byte("tenants"),
	[]byte("keys"),
	[]byte("rev"),
	[]byte("v"),
	[]byte(strings.Repeat("k", 200)),
}

// testIsolation: tenant a writes every hostile key; tenant b, and tenants
// whose IDs share a's prefix, see none of them by any key or cursor.
func testIsolation(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{MaxKeyBytes: 1024}, nil)
	others := []*state.Tenant{
		state.NewTenant(b, "b", state.Quota{MaxKeyBytes: 1024}, nil),
		state.NewTenant(b, "ab", state.Quota{MaxKeyBytes: 1024}, nil),
		state.NewTenant(b, "a-b", state.Quota{MaxKeyBytes: 1024}, nil),
		state.NewTenant(b, "a_", state.Quota{MaxKeyBytes: 1024}, nil),
	}
	for _, k := range hostileKeys {
		must(a.Set(ctx, k, append([]byte("secret of a: "), k...), 0))
	}
	must(others[0].Set(ctx, []byte("x"), []byte("b's own"), 0))
	for _, o := range others {
		for _, k := range hostileKeys {
			v, _, err := o.Get(ctx, k)
			if bytes.HasPrefix(v, []byte("secret of a")) {
				t.Fatalf("tenant %s read a's key %q", o.ID(), k)
			}
			if o.ID() != "b" || string(k) != "x" {
				want(t, err, state.ErrNotFound, fmt.Sprintf("tenant %s get %q", o.ID(), k))
				want(t, o.Delete(ctx, k), state.ErrNotFound, fmt.Sprintf("tenant %s delete %q", o.ID(), k))
				_, err := o.CompareAndSet(ctx, k, []byte("x"), 1, 0)
				want(t, err, state.ErrConflict, "compare-and-set of another tenant's revision")
			}
		}
		// Every prefix and every cursor lists only the tenant's own keys;
		// a's keys used as cursors in another keyspace are just positions.
		for _, k := range append(hostileKeys, nil) {
			keys, _, err := o.List(ctx, nil, k, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range keys {
				if o.ID() != "b" || string(got) != "x" {
					t.Fatalf("tenant %s listed %q after cursor %q", o.ID(), got, k)
				}
			}
			keys, _, _ = o.List(ctx, k, nil, 1000)
			for _, got := range keys {
				if o.ID() != "b" || string(got) != "x" {
					t.Fatalf("tenant %s listed %q under prefix %q", o.ID(), got, k)
				}
			}
		}
		u := must(o.Usage(ctx))
		if o.ID() != "b" && u.Keys != 0 {
			t.Fatalf("tenant %s usage %+v, want none", o.ID(), u)
		}
	}
	// b's writes and deletes of the same keys leave a's untouched.
	for _, k := range hostileKeys {
		must(others[0].Set(ctx, k, []byte("b"), 0))
		_ = others[0].Delete(ctx, k)
		must(others[0].Add(ctx, k, 1, 0))
	}
	for _, k := range hostileKeys {
		v := must(get(a, k))
		if !bytes.Equal(v, append([]byte("secret of a: "), k...)) {
			t.Fatalf("a's key %q = %q after b's writes", k, v)
		}
	}
	keys, _, _ := a.List(ctx, nil, nil, 1000)
	if len(keys) != len(hostileKeys) {
		t.Fatalf("a lists %d keys, want %d", len(keys), len(hostileKeys))
	}
}

func get(t *state.Tenant, k []byte) ([]byte, error) {
	v, _, err := t.Get(ctx, k)
	return v, err
}

func testHostileKeys(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{MaxKeyBytes: 64, MaxValueBytes: 128}, nil)
	_, err := a.Set(ctx, nil, []byte("v"), 0)
	want(t, err, state.ErrInvalid, "empty key")
	_, _, err = a.Get(ctx, []byte{})
	want(t, err, state.ErrInvalid, "get empty key")
	want(t, a.Delete(ctx, nil), state.ErrInvalid, "delete empty key")
	_, err = a.Add(ctx, nil, 1, 0)
	want(t, err, state.ErrInvalid, "add empty key")
	huge := bytes.Repeat([]byte{0xff}, 65)
	_, err = a.Set(ctx, huge, []byte("v"), 0)
	want(t, err, state.ErrQuota, "key over max_kv_key_bytes")
	_, _, err = a.Get(ctx, huge)
	want(t, err, state.ErrQuota, "get key over max_kv_key_bytes")
	_, _, err = a.List(ctx, huge, nil, 10)
	want(t, err, state.ErrInvalid, "list prefix over max_kv_key_bytes")
	_, err = a.Set(ctx, []byte("k"), make([]byte, 129), 0)
	want(t, err, state.ErrQuota, "value over max_kv_value_bytes")
	_, err = a.Set(ctx, []byte("k"), nil, -time.Second)
	want(t, err, state.ErrInvalid, "negative ttl")
	_, err = a.Set(ctx, []byte("k"), nil, state.MaxTTL+1)
	want(t, err, state.ErrInvalid, "ttl over MaxTTL")
	// Binary keys and empty values round-trip.
	for _, k := range [][]byte{{0}, {0, 0}, {0xff}, []byte("a\x00b"), bytes.Repeat([]byte{0x80}, 64)} {
		must(a.Set(ctx, k, nil, 0))
		v, _, err := a.Get(ctx, k)
		if err != nil || len(v) != 0 {
			t.Fatalf("get %q = %q, %v; want empty value", k, v, err)
		}
	}
	keys, _, _ := a.List(ctx, []byte{0}, nil, 10)
	if len(keys) != 2 || !bytes.Equal(keys[0], []byte{0}) || !bytes.Equal(keys[1], []byte{0, 0}) {
		t.Fatalf("list prefix 0x00 = %q", keys)
	}
}

func testGetSetDelete(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{}, nil)
	k := []byte("user:1")
	_, _, err := a.Get(ctx, k)
	want(t, err, state.ErrNotFound, "get before set")
	r1 := must(a.Set(ctx, k, []byte("one"), 0))
	v, rev, err := a.Get(ctx, k)
	if err != nil || string(v) != "one" || rev != r1 {
		t.Fatalf("get = %q rev %d, %v; want one rev %d", v, rev, err, r1)
	}
	r2 := must(a.Set(ctx, k, []byte("two"), 0))
	if r2 <= r1 {
		t.Fatalf("revision went from %d to %d", r1, r2)
	}
	if u := must(a.Usage(ctx)); u.Keys != 1 || u.Bytes != int64(len(k)+3) {
		t.Fatalf("usage %+v, want 1 key of %d bytes", u, len(k)+3)
	}
	if err := a.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	want(t, a.Delete(ctx, k), state.ErrNotFound, "second delete")
	_, _, err = a.Get(ctx, k)
	want(t, err, state.ErrNotFound, "get after delete")
	if u := must(a.Usage(ctx)); u.Keys != 0 || u.Bytes != 0 {
		t.Fatalf("usage after delete %+v, want zero", u)
	}
}

func testCompareAndSet(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{}, nil)
	k := []byte("doc")
	r1 := must(a.CompareAndSet(ctx, k, []byte("v1"), 0, 0))
	_, err := a.CompareAndSet(ctx, k, []byte("again"), 0, 0)
	want(t, err, state.ErrConflict, "create of an existing key")
	_, err = a.CompareAndSet(ctx, k, []byte("stale"), r1+1, 0)
	want(t, err, state.ErrConflict, "wrong revision")
	r2 := must(a.CompareAndSet(ctx, k, []byte("v2"), r1, 0))
	_, err = a.CompareAndSet(ctx, k, []byte("v3"), r1, 0)
	want(t, err, state.ErrConflict, "old revision")
	if v := must(get(a, k)); string(v) != "v2" {
		t.Fatalf("value %q, want v2", v)
	}
	_, err = a.CompareAndSet(ctx, []byte("absent"), []byte("x"), r2, 0)
	want(t, err, state.ErrConflict, "revision of an absent key")
	_, err = a.CompareAndSet(ctx, k, []byte("x"), 1<<63, 0)
	want(t, err, state.ErrConflict, "huge revision")
}

func testAdd(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{}, nil)
	k := []byte("count")
	if n := must(a.Add(ctx, k, 5, 0)); n != 5 {
		t.Fatalf("add to absent = %d, want 5", n)
	}
	if n := must(a.Add(ctx, k, -7, 0)); n != -2 {
		t.Fatalf("add = %d, want -2", n)
	}
	if v := must(get(a, k)); string(v) != "-2" {
		t.Fatalf("counter reads %q, want -2 (decimal text)", v)
	}
	must(a.Set(ctx, []byte("text"), []byte("abc"), 0))
	_, err := a.Add(ctx, []byte("text"), 1, 0)
	want(t, err, state.ErrInvalid, "add to text")
	must(a.Set(ctx, []byte("big"), []byte("9223372036854775807"), 0))
	_, err = a.Add(ctx, []byte("big"), 1, 0)
	want(t, err, state.ErrInvalid, "overflow")
	if v := must(get(a, []byte("big"))); string(v) != "9223372036854775807" {
		t.Fatalf("overflowing add changed the value to %q", v)
	}
	if u := must(a.Usage(ctx)); u.Keys != 3 || u.Bytes != int64(len("count-2")+len("textabc")+len("big9223372036854775807")) {
		t.Fatalf("usage %+v", u)
	}
}

func testList(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{}, nil)
	var wantKeys []string
	for i := range 25 {
		k := fmt.Sprintf("user:%02d", i)
		wantKeys = append(wantKeys, k)
		must(a.Set(ctx, []byte(k), []byte("v"), 0))
	}
	for _, k := range []string{"user", "user;", "usea", "zzz", "\x00"} {
		must(a.Set(ctx, []byte(k), []byte("v"), 0))
	}
	var got []string
	var cursor []byte
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		keys, next, err := a.List(ctx, []byte("user:"), cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			got = append(got, string(k))
		}
		if next == nil {
			break
		}
		cursor = next
	}
	if strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Fatalf("paged list = %v\nwant %v", got, wantKeys)
	}
	all, next, _ := a.List(ctx, nil, nil, 0)
	if len(all) != 30 || next != nil || string(all[0]) != "\x00" || string(all[29]) != "zzz" {
		t.Fatalf("list all = %q, next %q", all, next)
	}
	// A cursor before the prefix starts at the prefix; one past it ends.
	keys, _, _ := a.List(ctx, []byte("user:"), []byte("a"), 3)
	if len(keys) != 3 || string(keys[0]) != "user:00" {
		t.Fatalf("list with an early cursor = %q", keys)
	}
	keys, _, _ = a.List(ctx, []byte("user:"), []byte("zz"), 3)
	if len(keys) != 0 {
		t.Fatalf("list with a late cursor = %q", keys)
	}
}

// eventually polls cond every 20ms for up to 20s: expiry is asserted as
// "happens", never as "happens within a tight bound", so a loaded machine
// cannot fail the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: did not happen in 20s", what)
}

func testTTL(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{MaxKeys: 3}, nil)
	must(a.Set(ctx, []byte("short"), []byte("v"), 50*time.Millisecond))
	must(a.Set(ctx, []byte("long"), []byte("v"), time.Hour))
	must(a.Add(ctx, []byte("window"), 1, 50*time.Millisecond))
	eventually(t, "short key expires", func() bool {
		_, _, err := a.Get(ctx, []byte("short"))
		return errors.Is(err, state.ErrNotFound)
	})
	eventually(t, "counter window expires", func() bool {
		_, _, err := a.Get(ctx, []byte("window"))
		return errors.Is(err, state.ErrNotFound)
	})
	if _, _, err := a.Get(ctx, []byte("long")); err != nil {
		t.Fatalf("long-lived key: %v", err)
	}
	keys, _, _ := a.List(ctx, nil, nil, 10)
	if len(keys) != 1 || string(keys[0]) != "long" {
		t.Fatalf("list shows expired keys: %q", keys)
	}
	// An expired counter starts again at delta, with a new window.
	if n := must(a.Add(ctx, []byte("window"), 1, time.Hour)); n != 1 {
		t.Fatalf("add after expiry = %d, want 1", n)
	}
	// Expired keys no longer hold quota once a write of the tenant ran.
	must(a.Set(ctx, []byte("third"), []byte("v"), 0))
	if u := must(a.Usage(ctx)); u.Keys != 3 {
		t.Fatalf("usage %+v, want 3 keys (expired ones reclaimed)", u)
	}
	// A Set without TTL makes a key permanent again; add keeps the window.
	must(a.Set(ctx, []byte("long"), []byte("v2"), 0))
	if n := must(a.Add(ctx, []byte("window"), 1, time.Millisecond)); n != 2 {
		t.Fatalf("add = %d, want 2", n)
	}
	time.Sleep(30 * time.Millisecond)
	if _, _, err := a.Get(ctx, []byte("window")); err != nil {
		t.Fatalf("add's ttl moved an existing key's expiry: %v", err)
	}
}

func testQuotas(t *testing.T, b state.Backend) {
	var counted int
	var mu sync.Mutex
	q := state.Quota{MaxKeys: 3, MaxBytes: 40, MaxKeyBytes: 8, MaxValueBytes: 20}
	a := state.NewTenant(b, "a", q, func(id string) {
		mu.Lock()
		counted++
		mu.Unlock()
	})
	must(a.Set(ctx, []byte("k1"), []byte("0123456789"), 0)) // 12 bytes
	must(a.Set(ctx, []byte("k2"), []byte("0123456789"), 0)) // 24
	must(a.Add(ctx, []byte("k3"), 1, 0))                    // 27, 3 keys
	_, err := a.Set(ctx, []byte("k4"), []byte("x"), 0)
	want(t, err, state.ErrQuota, "fourth key")
	_, err = a.Add(ctx, []byte("k4"), 1, 0)
	want(t, err, state.ErrQuota, "fourth key by add")
	_, err = a.CompareAndSet(ctx, []byte("k4"), []byte("x"), 0, 0)
	want(t, err, state.ErrQuota, "fourth key by compare-and-set")
	_, err = a.Set(ctx, []byte("k1"), []byte("01234567890123456789"), 0) // 27-12+22 = 37: fits
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Set(ctx, []byte("k2"), []byte("0123456789abcdef"), 0) // 37-12+18 = 43
	want(t, err, state.ErrQuota, "bytes over max_kv_bytes")
	if v := must(get(a, []byte("k2"))); string(v) != "0123456789" {
		t.Fatalf("refused write changed the value to %q", v)
	}
	// Shrinking is allowed even at the limit; deleting frees a key.
	must(a.Set(ctx, []byte("k1"), []byte("x"), 0))
	if err := a.Delete(ctx, []byte("k3")); err != nil {
		t.Fatal(err)
	}
	must(a.Set(ctx, []byte("k4"), []byte("x"), 0))
	if u := must(a.Usage(ctx)); u.Keys != 3 || u.Bytes != 3+12+3 {
		t.Fatalf("usage %+v, want 3 keys, 18 bytes", u)
	}
	mu.Lock()
	defer mu.Unlock()
	if counted != 4 {
		t.Fatalf("quota refusals counted %d, want 4", counted)
	}
}

// testQuotasConcurrent: 16 callers race to create keys and bytes; the
// quotas hold exactly.
func testQuotasConcurrent(t *testing.T, b state.Backend) {
	const callers, each = 16, 8
	q := state.Quota{MaxKeys: 50, MaxBytes: 1 << 20}
	a := state.NewTenant(b, "a", q, nil)
	var ok sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for c := range callers {
		ok.Add(1)
		go func() {
			defer ok.Done()
			for i := range each {
				var err error
				if i%2 == 0 {
					_, err = a.Set(ctx, fmt.Appendf(nil, "c%d-%d", c, i), []byte("v"), 0)
				} else {
					_, err = a.Add(ctx, fmt.Appendf(nil, "c%d-%d", c, i), 1, 0)
				}
				switch {
				case err == nil:
					mu.Lock()
					created++
					mu.Unlock()
				case !errors.Is(err, state.ErrQuota):
					t.Error(err)
				}
			}
		}()
	}
	ok.Wait()
	u := must(a.Usage(ctx))
	keys, _, _ := a.List(ctx, nil, nil, 1000)
	if created != 50 || u.Keys != 50 || len(keys) != 50 {
		t.Fatalf("created %d, usage %+v, listed %d: want exactly max_kv_keys[50]", created, u, len(keys))
	}

	// Bytes: 16 callers each grow their own value; the total never passes.
	bq := state.Quota{MaxBytes: 1000}
	bt := state.NewTenant(b, "bytes", bq, nil)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= 10; i++ {
				if _, err := bt.Set(ctx, fmt.Appendf(nil, "k%02d", c), make([]byte, i*10), 0); err != nil && !errors.Is(err, state.ErrQuota) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	u = must(bt.Usage(ctx))
	var sum int64
	keys, _, _ = bt.List(ctx, nil, nil, 100)
	for _, k := range keys {
		v := must(get(bt, k))
		sum += int64(len(k) + len(v))
	}
	if u.Bytes > 1000 || u.Bytes != sum {
		t.Fatalf("usage %+v, stored %d bytes: want at most max_kv_bytes[1000] and exact accounting", u, sum)
	}
}

func testAddConcurrent(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{MaxKeys: 1}, nil)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := a.Add(ctx, []byte("n"), 1, time.Hour); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if v := must(get(a, []byte("n"))); string(v) != "400" {
		t.Fatalf("16 x 25 concurrent adds = %s, want 400", v)
	}
}

func testDeleteTenant(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{}, nil)
	o := state.NewTenant(b, "b", state.Quota{}, nil)
	for i := range 700 {
		must(a.Set(ctx, fmt.Appendf(nil, "k%d", i), []byte("v"), time.Duration(i%2)*time.Hour))
	}
	must(o.Set(ctx, []byte("k1"), []byte("b"), 0))
	if err := b.DeleteTenant(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if keys, _, _ := a.List(ctx, nil, nil, 10); len(keys) != 0 {
		t.Fatalf("keys left after DeleteTenant: %q", keys)
	}
	_, _, err := a.Get(ctx, []byte("k1"))
	want(t, err, state.ErrNotFound, "get after DeleteTenant")
	if u := must(a.Usage(ctx)); u != (state.Usage{}) {
		t.Fatalf("usage after DeleteTenant %+v", u)
	}
	if v := must(get(o, []byte("k1"))); string(v) != "b" {
		t.Fatalf("other tenant's key = %q", v)
	}
	if err := b.DeleteTenant(ctx, "never"); err != nil {
		t.Fatalf("DeleteTenant of an unknown tenant: %v", err)
	}
}

// testListBytes: a page of long keys is cut at MaxListBytes, and paging on
// from its cursor loses no key.
func testListBytes(t *testing.T, b state.Backend) {
	a := state.NewTenant(b, "a", state.Quota{MaxKeyBytes: 16 << 10}, nil)
	const n = 40
	for i := range n {
		k := append(fmt.Appendf(nil, "%02d", i), bytes.Repeat([]byte{'k'}, 16<<10-2)...)
		must(a.Set(ctx, k, nil, 0))
	}
	seen := 0
	var cursor []byte
	for pages := 0; ; pages++ {
		keys, next, err := a.List(ctx, nil, cursor, 1000)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, k := range keys {
			size += len(k)
		}
		if size > state.MaxListBytes {
			t.Fatalf("page of %d key bytes > MaxListBytes", size)
		}
		seen += len(keys)
		if next == nil {
			break
		}
		if pages > n {
			t.Fatal("listing does not end")
		}
		cursor = next
	}
	if seen != n {
		t.Fatalf("listed %d keys over the pages, want %d", seen, n)
	}
}
