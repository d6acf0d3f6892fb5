//go:build !wasip1

package plugin

import (
	"errors"
	"time"

	"github.com/imhook/imhook/sdk/abi"
)

// KVStore is the tenant state a native Host gives a plugin, with the
// semantics of imhook's (docs/sdk.md, "State"); sdktest.NewKV is an
// in-memory one. Errors with a Status() abi.Status method reach the plugin
// as that status; any other error as ErrUnavailable.
type KVStore interface {
	Get(key []byte) (value []byte, rev uint64, err error)
	Set(key, value []byte, ttl time.Duration) (rev uint64, err error)
	CompareAndSet(key, value []byte, rev uint64, ttl time.Duration) (newRev uint64, err error)
	Delete(key []byte) error
	Add(key []byte, delta int64, ttl time.Duration) (int64, error)
	List(prefix, cursor []byte, limit int) (keys [][]byte, next []byte, err error)
}

// kvError turns a KVStore's error into the *Error a plugin gets from imhook,
// its message prefixed with the host function's name as imhook does.
func kvError(fn string, err error) error {
	if err == nil {
		return nil
	}
	status := abi.StatusUnavailable
	var s interface{ Status() abi.Status }
	if errors.As(err, &s) {
		status = s.Status()
	}
	return &HostError{Status: status, Msg: fn + ": " + err.Error()}
}

func (h *Host) kv(fn string) (KVStore, error) {
	if h.KV == nil {
		return nil, &HostError{Status: abi.StatusUnavailable, Msg: fn + ": this Host has no state: set Host.KV (sdktest.Harness.WithKV)"}
	}
	return h.KV, nil
}

func (h *Host) kvGet(key string) ([]byte, uint64, error) {
	kv, err := h.kv(abi.FuncKVGet)
	if err != nil {
		return nil, 0, err
	}
	v, rev, err := kv.Get([]byte(key))
	return v, rev, kvError(abi.FuncKVGet, err)
}

func (h *Host) kvSet(key string, value []byte, ttl time.Duration) error {
	kv, err := h.kv(abi.FuncKVSet)
	if err != nil {
		return err
	}
	if ttl < 0 {
		return &HostError{Status: abi.StatusInvalid, Msg: abi.FuncKVSet + ": negative ttl"}
	}
	_, err = kv.Set([]byte(key), value, ttl.Round(time.Millisecond))
	return kvError(abi.FuncKVSet, err)
}

func (h *Host) kvCAS(key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	kv, err := h.kv(abi.FuncKVCompareAndSet)
	if err != nil {
		return 0, err
	}
	if ttl < 0 {
		return 0, &HostError{Status: abi.StatusInvalid, Msg: abi.FuncKVCompareAndSet + ": negative ttl"}
	}
	r, err := kv.CompareAndSet([]byte(key), value, rev, ttl)
	return r, kvError(abi.FuncKVCompareAndSet, err)
}

func (h *Host) kvDelete(key string) error {
	kv, err := h.kv(abi.FuncKVDelete)
	if err != nil {
		return err
	}
	return kvError(abi.FuncKVDelete, kv.Delete([]byte(key)))
}

func (h *Host) kvAdd(key string, delta int64, ttl time.Duration) (int64, error) {
	kv, err := h.kv(abi.FuncKVAdd)
	if err != nil {
		return 0, err
	}
	if ttl < 0 {
		return 0, &HostError{Status: abi.StatusInvalid, Msg: abi.FuncKVAdd + ": negative ttl"}
	}
	n, err := kv.Add([]byte(key), delta, ttl)
	return n, kvError(abi.FuncKVAdd, err)
}

func (h *Host) kvList(prefix, cursor string, limit int) ([]string, string, error) {
	kv, err := h.kv(abi.FuncKVList)
	if err != nil {
		return nil, "", err
	}
	if limit < 1 || limit > 1000 {
		limit = 1000
	}
	keys, next, err := kv.List([]byte(prefix), []byte(cursor), limit)
	if err != nil {
		return nil, "", kvError(abi.FuncKVList, err)
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(k)
	}
	return out, string(next), nil
}
