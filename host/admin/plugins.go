package admin

import (
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins/registry"
)

// MinHashPrefix is the shortest version hash prefix the API accepts in a
// path. A full sha256 is 64 hex digits; 12 is what logs and the CLI show.
const MinHashPrefix = 12

// ActiveAlias names the active version in a path instead of its hash.
const ActiveAlias = "active"

func (a *API) listPlugins(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, pluginList(t))
	return nil
}

func pluginList(t *registry.Tenant) PluginList {
	ps := t.Plugins
	if ps == nil {
		ps = []registry.Plugin{}
	}
	return PluginList{Plugins: ps, Revision: t.Revision}
}

func (a *API) reorderPlugins(r *request) error {
	var in Order
	if err := decodeJSON(r.rc, maxJSONBytes, &in); err != nil {
		return err
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	t, err := a.reg.Reorder(r.ctx, r.tenant, in.Order, expect)
	if err != nil {
		return err
	}
	a.logChange(r, "plugins reordered", "order", strings.Join(in.Order, ","))
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, pluginList(t))
	return nil
}

// plugin returns the tenant and its plugin named in the path.
func (a *API) plugin(r *request) (*registry.Tenant, *registry.Plugin, error) {
	if err := registry.ValidID("plugin", r.plugin); err != nil {
		return nil, nil, err
	}
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return nil, nil, err
	}
	p, ok := t.Plugin(r.plugin)
	if !ok {
		return nil, nil, fmt.Errorf("tenant[%s] plugin[%s]: %w", r.tenant, r.plugin, registry.ErrNotFound)
	}
	return t, p, nil
}

func (a *API) getPlugin(r *request) error {
	t, p, err := a.plugin(r)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, p)
	return nil
}

func (a *API) deletePlugin(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	if _, err := a.reg.DeletePlugin(r.ctx, r.tenant, r.plugin, expect); err != nil {
		return err
	}
	a.logChange(r, "plugin deleted", "plugin", r.plugin)
	r.rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a *API) rollback(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	t, err := a.reg.Rollback(r.ctx, r.tenant, r.plugin, expect)
	if err != nil {
		return err
	}
	return a.writePlugin(r, t, "plugin rolled back")
}

// writePlugin logs an activation and, once the webhook path serves it (or
// the wait is over), answers with the changed plugin.
func (a *API) writePlugin(r *request, t *registry.Tenant, msg string) error {
	p, ok := t.Plugin(r.plugin)
	if !ok { // deleted by someone else in between
		return fmt.Errorf("tenant[%s] plugin[%s]: %w", r.tenant, r.plugin, registry.ErrNotFound)
	}
	a.logChange(r, msg, "plugin", r.plugin, "plugin_version", short(p.Active))
	out := Activation{Plugin: *p, Serving: a.awaitServing(r.ctx, r.tenant, p.Name, p.Active, t.Revision)}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

func (a *API) listVersions(r *request) error {
	t, p, err := a.plugin(r)
	if err != nil {
		return err
	}
	vs := p.Versions
	if vs == nil {
		vs = []registry.Version{}
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, VersionList{Active: p.Active, Versions: vs})
	return nil
}

// resolve turns the {hash} of the path into a full version hash of p: the
// full hash, a unique prefix of at least MinHashPrefix digits, or
// ActiveAlias.
func (r *request) resolve(p *registry.Plugin) (registry.Version, error) {
	h := r.hash
	if h == ActiveAlias {
		v, ok := p.ActiveVersion()
		if !ok {
			return v, fmt.Errorf("tenant[%s] plugin[%s]: no active version: %w", r.tenant, p.Name, registry.ErrNotFound)
		}
		return v, nil
	}
	if len(h) < MinHashPrefix || len(h) > 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return registry.Version{}, apiErrorf(fasthttp.StatusBadRequest,
			"version[%s]: want a lowercase hex sha256, or a prefix of it of at least %d digits, or %q", h, MinHashPrefix, ActiveAlias)
	}
	var found []registry.Version
	for _, v := range p.Versions {
		if strings.HasPrefix(v.Hash, h) {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return registry.Version{}, fmt.Errorf("tenant[%s] plugin[%s] version[%s]: %w", r.tenant, p.Name, h, registry.ErrNotFound)
	case 1:
		return found[0], nil
	}
	return registry.Version{}, apiErrorf(fasthttp.StatusBadRequest, "version[%s] matches %d versions; give more digits", h, len(found))
}

// version returns the tenant, the plugin and the version named in the path.
func (a *API) version(r *request) (*registry.Tenant, *registry.Plugin, registry.Version, error) {
	t, p, err := a.plugin(r)
	if err != nil {
		return nil, nil, registry.Version{}, err
	}
	v, err := r.resolve(p)
	return t, p, v, err
}

func (a *API) getVersion(r *request) error {
	t, _, v, err := a.version(r)
	if err != nil {
		return err
	}
	setETag(r.rc, t.Revision)
	writeJSON(r.rc, fasthttp.StatusOK, v)
	return nil
}

func (a *API) deleteVersion(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	_, _, v, err := a.version(r)
	if err != nil {
		return err
	}
	if _, err := a.reg.DeleteVersion(r.ctx, r.tenant, r.plugin, v.Hash, expect); err != nil {
		return err
	}
	a.logChange(r, "version deleted", "plugin", r.plugin, "plugin_version", short(v.Hash))
	r.rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (a *API) activate(r *request) error {
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	_, _, v, err := a.version(r)
	if err != nil {
		return err
	}
	t, err := a.reg.Activate(r.ctx, r.tenant, r.plugin, v.Hash, expect)
	if err != nil {
		return err
	}
	return a.writePlugin(r, t, "version activated")
}

// upload validates a .wasm and stores it as a new version; with
// ?activate=true it also makes it active. Order: size cap, Inspect under the
// tenant's limits, AddVersion (blob, then metadata), Activate. A module that
// fails Inspect is answered 422 and nothing is stored.
func (a *API) upload(r *request) error {
	if err := registry.ValidID("plugin", r.plugin); err != nil {
		return err
	}
	if err := checkContentType(r.rc, "application/wasm", "application/octet-stream"); err != nil {
		return err
	}
	activate, err := queryBool(r.rc, "activate")
	if err != nil {
		return err
	}
	expect, err := ifMatch(r.rc)
	if err != nil {
		return err
	}
	// Copy: the body must not outlive the handler, and the registry keeps it.
	wasm := append([]byte(nil), r.rc.PostBody()...)
	switch {
	case len(wasm) > a.maxUpload:
		return apiErrorf(fasthttp.StatusRequestEntityTooLarge, "plugin of %d bytes is over the %d byte upload limit", len(wasm), a.maxUpload)
	case len(wasm) == 0:
		return apiErrorf(fasthttp.StatusBadRequest, "empty upload: send the .wasm file as the request body")
	}
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	cfg := tenants.SandboxOptions(t, a.defaults)
	info, err := a.eng.InspectFor(r.ctx, wasm, cfg.Limits, cfg.Grants)
	if err != nil {
		return err // a *LoadError is a 422 with its reason
	}
	existed := false
	if p, ok := t.Plugin(r.plugin); ok {
		_, existed = p.Version(info.Hash)
	}
	vi := registry.VersionInfo{Hash: info.Hash, Size: int64(info.Size), ABIVersion: info.ABIVersion, Commands: info.Commands}
	t, v, err := a.reg.AddVersion(r.ctx, r.tenant, r.plugin, wasm, vi, expect)
	if err != nil {
		return err
	}
	if activate {
		// With If-Match the activation must follow this very upload (a concurrent
		// change is a 412); without it the request is unconditional throughout,
		// like a plain activate, and the last writer wins.
		activateExpect := registry.AnyRevision
		if expect != registry.AnyRevision {
			activateExpect = t.Revision
		}
		if t, err = a.reg.Activate(r.ctx, r.tenant, r.plugin, v.Hash, activateExpect); err != nil {
			return fmt.Errorf("version[%s] stored but not activated: %w", short(v.Hash), err)
		}
	}
	p, _ := t.Plugin(r.plugin)
	out := Upload{
		Plugin:        r.plugin,
		Version:       v,
		Created:       !existed,
		Active:        p != nil && p.Active == v.Hash,
		CompileTimeUS: info.CompileTime.Microseconds(),
		Revision:      t.Revision,

		CPULimit:         string(info.CPULimit),
		CPULimitReason:   info.CPULimitReason,
		InitInstructions: info.InitInstructions,
		PreInitialized:   info.PreInitialized,
		PreInitReason:    info.PreInitReason,
		WireInput:        info.WireInput,
	}
	if out.Active {
		out.Serving = a.awaitServing(r.ctx, r.tenant, r.plugin, v.Hash, t.Revision)
	}
	a.logChange(r, "version uploaded", "plugin", r.plugin, "plugin_version", short(v.Hash), "active", out.Active, "size", v.Size)
	status := fasthttp.StatusCreated
	if existed {
		status = fasthttp.StatusOK
	}
	setETag(r.rc, t.Revision)
	r.rc.Response.Header.Set(fasthttp.HeaderLocation,
		"/v1/tenants/"+r.tenant+"/plugins/"+r.plugin+"/versions/"+v.Hash)
	writeJSON(r.rc, status, out)
	return nil
}

// short abbreviates a version hash for logs.
func short(hash string) string {
	if len(hash) > MinHashPrefix {
		return hash[:MinHashPrefix]
	}
	return hash
}
