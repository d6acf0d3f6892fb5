package admin

import (
	"encoding/base64"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins/state"
	"github.com/imhook/imhook/sdk/abi"
)

// The tenant's key-value state, for seeding data and debugging: list, read,
// write and delete keys, as the tenant (its token) or the operator. Keys
// are bytes, so they travel base64url-encoded without padding (RFC 4648
// section 5): in paths ({key}), cursors and bodies alike; values are
// standard base64 in JSON. Every operation goes through state.Tenant bound
// to the path's tenant, whose token authorized the call: no key reaches
// another tenant's keyspace, and the tenant's quotas apply.

// KVKey is one key in a listing.
type KVKey struct {
	// Key is the key, base64url without padding.
	Key string `json:"key"`
	// Text is the key as text when it is valid UTF-8, for reading.
	Text string `json:"text,omitempty"`
}

// KVList is a page of keys.
type KVList struct {
	Keys []KVKey `json:"keys"`
	// Next is the cursor of the next page; empty after the last.
	Next string `json:"next,omitempty"`
	// Usage is what the tenant's state holds, and Quota its limits.
	Usage KVUsage `json:"usage"`
}

// KVUsage is what a tenant's state holds against its quota.
type KVUsage struct {
	Keys     int64 `json:"keys"`
	Bytes    int64 `json:"bytes"`
	MaxKeys  int64 `json:"max_keys"`
	MaxBytes int64 `json:"max_bytes"`
}

// KVEntry is one key's value.
type KVEntry struct {
	Key      string `json:"key"`
	Value    []byte `json:"value"` // standard base64 in JSON
	Text     string `json:"text,omitempty"`
	Revision uint64 `json:"revision"`
}

// KVPut is the body of PUT .../kv/{key}.
type KVPut struct {
	Value []byte `json:"value"` // standard base64 in JSON
	// TTLMs makes the key expire after that many milliseconds; 0 never.
	TTLMs int64 `json:"ttl_ms,omitempty"`
	// IfRevision makes the write a compare-and-set: 0 or absent writes in
	// any case; set if_absent to create only.
	IfRevision uint64 `json:"if_revision,omitempty"`
	IfAbsent   bool   `json:"if_absent,omitempty"`
}

// KVWritten answers a write.
type KVWritten struct {
	Revision uint64 `json:"revision"`
}

var keyEncoding = base64.RawURLEncoding

// kvTenant returns the state of the request's tenant, or why there is none.
// write refuses a tenant's token when the tenant is not granted kv: the
// operator's store is not free space for tenants that may not use state
// (reading and deleting what is there stays allowed; the operator may seed
// the state before granting it).
func (a *API) kvTenant(r *request, write bool) (*state.Tenant, error) {
	if a.state == nil {
		return nil, apiErrorf(fasthttp.StatusNotImplemented, "this server has no state store")
	}
	t, err := a.readTenant(r)
	if err != nil {
		return nil, err
	}
	cfg := tenants.SandboxOptions(t, a.defaults)
	if write && !r.who.operator && !cfg.Grants.KV {
		return nil, apiErrorf(fasthttp.StatusForbidden, "tenant[%s] is not granted kv, so its token cannot write state; the operator grants it (imhook tenant update --grants kv)", t.ID)
	}
	return state.NewTenant(a.state, t.ID, tenants.StateQuota(cfg.Limits), nil), nil
}

// decodeKey decodes a base64url key of a path or query.
func decodeKey(what, s string) ([]byte, error) {
	b, err := keyEncoding.DecodeString(s)
	if err != nil {
		return nil, apiErrorf(fasthttp.StatusBadRequest, "%s[%.64s]: not base64url without padding (RFC 4648 section 5; imhook kv encodes it for you): %v", what, s, err)
	}
	return b, nil
}

// kvError maps a state error to its HTTP answer.
func kvError(err error) error {
	var e *state.Error
	if !errors.As(err, &e) {
		if state.StatusOf(err) == abi.StatusTimeout {
			return apiErrorf(fasthttp.StatusServiceUnavailable, "the state store did not answer in time; retry later")
		}
		return err
	}
	status := map[abi.Status]int{
		abi.StatusNotFound:    fasthttp.StatusNotFound,
		abi.StatusQuota:       fasthttp.StatusUnprocessableEntity,
		abi.StatusInvalid:     fasthttp.StatusBadRequest,
		abi.StatusConflict:    fasthttp.StatusConflict,
		abi.StatusUnavailable: fasthttp.StatusServiceUnavailable,
	}[e.Status()]
	if status == 0 {
		status = fasthttp.StatusInternalServerError
	}
	if status == fasthttp.StatusServiceUnavailable {
		// The cause may name the store's address: log it, don't send it.
		return &APIError{Status: status, Message: "the state store is unavailable; retry later", Err: err}
	}
	return &APIError{Status: status, Message: e.Error()}
}

func textOf(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return ""
}

func (a *API) listKV(r *request) error {
	kv, err := a.kvTenant(r, false)
	if err != nil {
		return err
	}
	args := r.rc.QueryArgs()
	prefix, err := decodeKey("prefix", string(args.Peek("prefix")))
	if err != nil {
		return err
	}
	cursor, err := decodeKey("cursor", string(args.Peek("cursor")))
	if err != nil {
		return err
	}
	limit := 100
	if s := args.Peek("limit"); len(s) > 0 {
		if limit, err = strconv.Atoi(string(s)); err != nil || limit < 1 || limit > state.MaxListLimit {
			return apiErrorf(fasthttp.StatusBadRequest, "limit[%.16s]: want 1 to %d", s, state.MaxListLimit)
		}
	}
	keys, next, err := kv.List(r.ctx, prefix, cursor, limit)
	if err != nil {
		return kvError(err)
	}
	u, err := kv.Usage(r.ctx)
	if err != nil {
		return kvError(err)
	}
	q := kv.Quota()
	out := KVList{Keys: make([]KVKey, len(keys)), Usage: KVUsage{Keys: u.Keys, Bytes: u.Bytes, MaxKeys: q.MaxKeys, MaxBytes: q.MaxBytes}}
	for i, k := range keys {
		out.Keys[i] = KVKey{Key: keyEncoding.EncodeToString(k), Text: textOf(k)}
	}
	if next != nil {
		out.Next = keyEncoding.EncodeToString(next)
	}
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

func (a *API) getKV(r *request) error {
	key, err := decodeKey("key", r.key)
	if err != nil {
		return err
	}
	kv, err := a.kvTenant(r, false)
	if err != nil {
		return err
	}
	v, rev, err := kv.Get(r.ctx, key)
	if err != nil {
		return kvError(err)
	}
	writeJSON(r.rc, fasthttp.StatusOK, KVEntry{Key: r.key, Value: v, Text: textOf(v), Revision: rev})
	return nil
}

func (a *API) putKV(r *request) error {
	key, err := decodeKey("key", r.key)
	if err != nil {
		return err
	}
	kv, err := a.kvTenant(r, true)
	if err != nil {
		return err
	}
	// base64 grows a value by 4/3; a body over that for the tenant's
	// largest value is refused before it is decoded.
	var body KVPut
	if err := decodeJSON(r.rc, kv.Quota().MaxValueBytes/3*4+1024, &body); err != nil {
		return err
	}
	if body.TTLMs < 0 || body.TTLMs > int64(state.MaxTTL/time.Millisecond) {
		return apiErrorf(fasthttp.StatusBadRequest, "ttl_ms[%d]: want 0 (no expiry) to %d", body.TTLMs, int64(state.MaxTTL/time.Millisecond))
	}
	if body.IfAbsent && body.IfRevision != 0 {
		return apiErrorf(fasthttp.StatusBadRequest, "if_absent and if_revision: give one of them")
	}
	ttl := time.Duration(body.TTLMs) * time.Millisecond
	var rev uint64
	switch {
	case body.IfAbsent:
		rev, err = kv.CompareAndSet(r.ctx, key, body.Value, 0, ttl)
	case body.IfRevision != 0:
		rev, err = kv.CompareAndSet(r.ctx, key, body.Value, body.IfRevision, ttl)
	default:
		rev, err = kv.Set(r.ctx, key, body.Value, ttl)
	}
	if err != nil {
		return kvError(err)
	}
	a.logChange(r, "state key written", "key", r.key)
	writeJSON(r.rc, fasthttp.StatusOK, KVWritten{Revision: rev})
	return nil
}

func (a *API) deleteKV(r *request) error {
	key, err := decodeKey("key", r.key)
	if err != nil {
		return err
	}
	kv, err := a.kvTenant(r, false)
	if err != nil {
		return err
	}
	if err := kv.Delete(r.ctx, key); err != nil {
		return kvError(err)
	}
	a.logChange(r, "state key deleted", "key", r.key)
	r.rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}
