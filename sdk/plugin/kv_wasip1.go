//go:build wasip1

package plugin

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/imhook/imhook/sdk/abi"
)

// The kv_* imports. The Go linker drops the ones a plugin never reaches, so
// a plugin that does not use KV imports none and needs no grant.

//go:wasmimport imhook kv_get
func hostKVGet(keyPtr, keyLen, bufPtr, bufCap, revPtr uint32) int32

//go:wasmimport imhook kv_set
func hostKVSet(keyPtr, keyLen, valPtr, valLen uint32, ttlMs int64) int32

//go:wasmimport imhook kv_cas
func hostKVCAS(keyPtr, keyLen, valPtr, valLen uint32, ttlMs int64, rev uint64, revPtr uint32) int32

//go:wasmimport imhook kv_delete
func hostKVDelete(keyPtr, keyLen uint32) int32

//go:wasmimport imhook kv_add
func hostKVAdd(keyPtr, keyLen uint32, delta, ttlMs int64, resultPtr uint32) int32

//go:wasmimport imhook kv_list
func hostKVList(prefixPtr, prefixLen, cursorPtr, cursorLen uint32, limit int32, bufPtr, bufCap uint32) int32

var (
	// kvWord receives a revision or a counter; kvScratch a small output.
	// Package variables, so their addresses stay put during a host call.
	kvWord    uint64
	kvScratch [512]byte
)

func wordAddr() uint32 { return uint32(uintptr(unsafe.Pointer(&kvWord))) }

// result returns an output of n bytes: in kvScratch when it fit, else taken
// from the host.
func result(n int32) ([]byte, error) {
	out := make([]byte, n)
	if int(n) <= len(kvScratch) {
		copy(out, kvScratch[:n])
		return out, nil
	}
	if m := hostTakeResult(bytesAddr(out), uint32(n)); m != n {
		return nil, &HostError{Status: abi.StatusInvalid, Msg: "take_result: the host kept no output"}
	}
	return out, nil
}

func (wasmHost) kvGet(key string) ([]byte, uint64, error) {
	n := hostKVGet(stringAddr(key), uint32(len(key)), bytesAddr(kvScratch[:]), uint32(len(kvScratch)), wordAddr())
	if n < 0 {
		return nil, 0, lastError(abi.Status(n))
	}
	rev := kvWord
	v, err := result(n)
	return v, rev, err
}

func (wasmHost) kvSet(key string, value []byte, ttl time.Duration) error {
	if n := hostKVSet(stringAddr(key), uint32(len(key)), bytesAddr(value), uint32(len(value)), ttlMs(ttl)); n < 0 {
		return lastError(abi.Status(n))
	}
	return nil
}

func (wasmHost) kvCAS(key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if n := hostKVCAS(stringAddr(key), uint32(len(key)), bytesAddr(value), uint32(len(value)), ttlMs(ttl), rev, wordAddr()); n < 0 {
		return 0, lastError(abi.Status(n))
	}
	return kvWord, nil
}

func (wasmHost) kvDelete(key string) error {
	if n := hostKVDelete(stringAddr(key), uint32(len(key))); n < 0 {
		return lastError(abi.Status(n))
	}
	return nil
}

func (wasmHost) kvAdd(key string, delta int64, ttl time.Duration) (int64, error) {
	if n := hostKVAdd(stringAddr(key), uint32(len(key)), delta, ttlMs(ttl), wordAddr()); n < 0 {
		return 0, lastError(abi.Status(n))
	}
	return int64(kvWord), nil
}

func (wasmHost) kvList(prefix, cursor string, limit int) ([]string, string, error) {
	if limit < 1 || limit > 1000 {
		limit = 1000
	}
	n := hostKVList(stringAddr(prefix), uint32(len(prefix)), stringAddr(cursor), uint32(len(cursor)), int32(limit), bytesAddr(kvScratch[:]), uint32(len(kvScratch)))
	if n < 0 {
		return nil, "", lastError(abi.Status(n))
	}
	out, err := result(n)
	if err != nil {
		return nil, "", err
	}
	return decodeList(out)
}

// decodeList splits kv_list's output: length-prefixed next cursor, then keys.
func decodeList(b []byte) ([]string, string, error) {
	var items []string
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, "", &HostError{Status: abi.StatusInvalid, Msg: "kv_list: truncated output"}
		}
		n := binary.LittleEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, "", &HostError{Status: abi.StatusInvalid, Msg: "kv_list: truncated output"}
		}
		items = append(items, string(b[4:4+n]))
		b = b[4+n:]
	}
	if len(items) == 0 {
		return nil, "", &HostError{Status: abi.StatusInvalid, Msg: "kv_list: output without a cursor"}
	}
	return items[1:], items[0], nil
}
