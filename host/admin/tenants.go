package admin

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/plugins/registry"
)

// view returns the API's view of a registry tenant.
func view(t *registry.Tenant) Tenant {
	ps := t.Plugins
	if ps == nil {
		ps = []registry.Plugin{}
	}
	return Tenant{
		ID:        t.ID,
		Settings:  t.Settings,
		Plugins:   ps,
		Revision:  t.Revision,
		CreatedAt: t.CreatedAt,
		UpdatedAt: t.UpdatedAt,
	}
}

// logChange records one change made through the API. Tokens never appear.
func (a *API) logChange(r *request, msg string, args ...any) {
	a.log.Info("admin: "+msg, append([]any{"by", r.who.String(), "tenant", r.tenant}, args...)...)
}

func (a *API) whoami(r *request) error {
	w := Whoami{Role: "operator"}
	if !r.who.operator {
		w = Whoami{Role: "tenant", Tenant: r.who.tenant}
	}
	writeJSON(r.rc, fasthttp.StatusOK, w)
	return nil
}

func (a *API) listTenants(r *request) error {
	ts, err := a.reg.Tenants(r.ctx)
	if err != nil {
		return err
	}
	out := TenantList{Tenants: make([]Tenant, 0, len(ts))}
	for _, t := range ts {
		out.Tenants = append(out.Tenants, view(t))
	}
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

func (a *API) createTenant(r *request) error {
	var in CreateTenant
	if err := decodeJSON(r.rc, maxJSONBytes, &in); err != nil {
		return err
	}
	t, secret, err := a.reg.CreateTenant(r.ctx, in.ID, in.Settings)
	if err != nil {
		return err
	}
	r.tenant = t.ID
	a.logChange(r, "tenant created")
	setETag(r.rc, t.Revision)
	r.rc.Response.Header.Set(fasthttp.HeaderLocation, "/v1/tenants/"+t.ID)
	writeJSON(r.rc, fasthttp.StatusCreated, TenantToken{Tenant: view(t), Token: JoinToken(t.ID, secret)})
	return nil
}

func (a *API) getTenant(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, view(t))
	return nil
}

// patchTenant applies a JSON merge patch (RFC 7396) to the tenant. Only
// "settings" may appear in it: the ID is fixed and plugins have their own
// routes.
func (a *API) patchTenant(r *request) error {
	var patch map[string]json.RawMessage
	if err := decodeJSON(r.rc, maxJSONBytes, &patch, "application/merge-patch+json", "application/json"); err != nil {
		return err
	}
	for k := range patch {
		if k != "settings" {
			return apiErrorf(fasthttp.StatusBadRequest, "field[%s] cannot be patched: only settings can (plugins have their own routes)", k)
		}
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	cur, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	next := cur.Settings
	if raw, ok := patch["settings"]; ok {
		if next, err = patchSettings(cur.Settings, raw); err != nil {
			return err
		}
	}
	return a.setSettings(r, cur, next, expect, func(t *registry.Tenant) any { return view(t) })
}

// patchSettings applies the merge patch raw to s.
func patchSettings(s registry.Settings, raw json.RawMessage) (registry.Settings, error) {
	orig, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	var target, patch any
	if err := unmarshalNumbers(orig, &target); err != nil {
		return s, err
	}
	if err := unmarshalNumbers(raw, &patch); err != nil {
		return s, apiErrorf(fasthttp.StatusBadRequest, "bad JSON: settings: %s", err)
	}
	if _, ok := patch.(map[string]any); !ok {
		return s, apiErrorf(fasthttp.StatusBadRequest, "bad JSON: settings must be an object")
	}
	merged, err := json.Marshal(mergePatch(target, patch))
	if err != nil {
		return s, err
	}
	var out registry.Settings
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return s, apiErrorf(fasthttp.StatusBadRequest, "bad JSON: settings: %s", err)
	}
	return out, nil
}

// mergePatch applies an RFC 7396 merge patch to target: objects merge key by
// key, null deletes, anything else replaces.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = make(map[string]any, len(pm))
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// unmarshalNumbers decodes JSON keeping numbers exact (durations are
// nanoseconds and may not survive a float64).
func unmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

func (a *API) deleteTenant(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	if err := a.reg.DeleteTenant(r.ctx, r.tenant, expect); err != nil {
		return err
	}
	a.logs.Forget(r.tenant)
	a.capture.Forget(r.tenant)
	a.logChange(r, "tenant deleted")
	writeJSON(r.rc, fasthttp.StatusOK, a.purge(r))
	return nil
}

// TenantDeleted answers DELETE /v1/tenants/{tenant}: the tenant is gone,
// and with it what imhook kept for it.
type TenantDeleted struct {
	Tenant string `json:"tenant"`
	// Purged names what was deleted with the tenant: "queue" (its pending
	// after-callbacks), "dead_letters" and "state" (its key-value state).
	Purged []string `json:"purged"`
	// Failed says, by the same names, what could not be deleted and why
	// (a store that did not answer); the tenant is deleted all the same.
	Failed map[string]string `json:"failed,omitempty"`
}

// purge deletes a deleted tenant's queue, dead letters and state. The
// tenant is gone whatever happens here; a failure is reported and logged
// for the operator.
func (a *API) purge(r *request) TenantDeleted {
	out := TenantDeleted{Tenant: r.tenant, Purged: []string{}}
	fail := func(what string, err error) {
		if out.Failed == nil {
			out.Failed = map[string]string{}
		}
		out.Failed[what] = err.Error()
		a.log.Error("admin: tenant deleted, but not its "+what, "tenant", r.tenant, "err", err)
	}
	if a.queue != nil {
		if err := a.queue.DeleteTenant(r.ctx, r.tenant); err != nil {
			fail("queue", err)
		} else {
			out.Purged = append(out.Purged, "queue", "dead_letters")
		}
	}
	if a.state != nil {
		if err := a.state.DeleteTenant(r.ctx, r.tenant); err != nil {
			fail("state", err)
		} else {
			out.Purged = append(out.Purged, "state")
		}
	}
	return out
}

func (a *API) rotateToken(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	t, secret, err := a.reg.RotateToken(r.ctx, r.tenant, expect)
	if err != nil {
		return err
	}
	a.logChange(r, "token rotated")
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, TenantToken{Tenant: view(t), Token: JoinToken(t.ID, secret)})
	return nil
}

func (a *API) getSettings(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, t.Settings)
	return nil
}

func (a *API) putSettings(r *request) error {
	var s registry.Settings
	if err := decodeJSON(r.rc, maxJSONBytes, &s); err != nil {
		return err
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	cur, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	if expect == registry.AnyRevision && r.who.operator {
		cur.Revision = registry.AnyRevision // an unconditional replace
	}
	return a.setSettings(r, cur, s, expect, func(t *registry.Tenant) any { return t.Settings })
}

// setSettings stores next as cur's settings and answers with out(stored).
// Without If-Match, the change is conditional on cur's revision, so that a
// tenant's read-modify-write cannot undo a concurrent operator change of the
// fields only the operator may set.
func (a *API) setSettings(r *request, cur *registry.Tenant, next registry.Settings, expect uint64, out func(*registry.Tenant) any) error {
	if err := operatorFields(r.who, &cur.Settings, &next); err != nil {
		return err
	}
	if expect == registry.AnyRevision {
		expect = cur.Revision
	}
	t, err := a.reg.SetSettings(r.ctx, r.tenant, next, expect)
	if err != nil {
		return err
	}
	a.logChange(r, "settings changed", "revision", t.Revision)
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, out(t))
	return nil
}

// operatorFields refuses a tenant token's change to the settings that cost
// the operator resources or widen the sandbox: limits, grants and
// keep_versions.
func operatorFields(who principal, old, next *registry.Settings) error {
	if who.operator {
		return nil
	}
	var changed []string
	if old.Limits != next.Limits {
		changed = append(changed, "limits")
	}
	if !sameSet(old.Grants, next.Grants) {
		changed = append(changed, "grants")
	}
	if old.Keep() != next.Keep() {
		changed = append(changed, "keep_versions")
	}
	if !sameSet(old.EgressAllow, next.EgressAllow) {
		changed = append(changed, "egress_allow")
	}
	if len(changed) > 0 {
		return apiErrorf(fasthttp.StatusForbidden, "token of tenant[%s] cannot change %s: only the operator can", who.tenant, strings.Join(changed, ", "))
	}
	return nil
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (a *API) getStats(r *request) error {
	if _, err := a.reg.Tenant(r.ctx, r.tenant); err != nil {
		return err
	}
	out := Stats{Tenant: r.tenant}
	if a.stats != nil {
		if v, ok := a.stats(r.tenant); ok {
			out.Stats = v
		}
	}
	if a.replicas != nil {
		out.Replicas = a.replicas(r.ctx, r.tenant)
	}
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}
