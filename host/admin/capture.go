package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/capture"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/sdk/openim"
)

// Capture is the body of GET and PUT .../capture: the tenant's capture
// settings, what was kept and skipped, and (GET) the callbacks kept,
// oldest first.
type Capture struct {
	Settings  capture.Settings   `json:"settings"`
	Stats     capture.Stats      `json:"stats"`
	Callbacks []capture.Callback `json:"callbacks,omitempty"`
}

func (a *API) getCapture(r *request) error {
	if _, err := a.reg.Tenant(r.ctx, r.tenant); err != nil {
		return err
	}
	st, kept, stats := a.capture.Get(r.tenant)
	if c := string(r.rc.QueryArgs().Peek("command")); c != "" {
		var sel []capture.Callback
		for _, cb := range kept {
			if cb.Command == c {
				sel = append(sel, cb)
			}
		}
		kept = sel
	}
	writeJSON(r.rc, fasthttp.StatusOK, Capture{Settings: st, Stats: stats, Callbacks: kept})
	return nil
}

func (a *API) putCapture(r *request) error {
	if _, err := a.reg.Tenant(r.ctx, r.tenant); err != nil {
		return err
	}
	var in capture.Settings
	if err := decodeJSON(r.rc, 64<<10, &in); err != nil {
		return err
	}
	st, err := a.capture.Set(r.tenant, in)
	if err != nil {
		return &APIError{Status: fasthttp.StatusBadRequest, Message: "capture settings", Err: err}
	}
	_, _, stats := a.capture.Get(r.tenant)
	a.logChange(r, "capture settings changed", "enabled", st.Enabled, "redact", st.Redact)
	writeJSON(r.rc, fasthttp.StatusOK, Capture{Settings: st, Stats: stats})
	return nil
}

func (a *API) clearCapture(r *request) error {
	if _, err := a.reg.Tenant(r.ctx, r.tenant); err != nil {
		return err
	}
	a.capture.Clear(r.tenant)
	r.rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// Replay is the body of POST .../capture/replay: the captured callbacks run
// again through one plugin version, and which replies would change.
type Replay struct {
	Plugin  string `json:"plugin"`
	Version string `json:"version"` // the full hash of the module replayed
	// Source is "upload" (the module in the request), or "stored" (a kept
	// version: the active one unless the request named another).
	Source  string         `json:"source"`
	Total   int            `json:"total"`
	Changed int            `json:"changed"`
	Results []ReplayResult `json:"results"`
}

// ReplayResult is one captured callback replayed.
type ReplayResult struct {
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	Command     string    `json:"command"`
	OperationID string    `json:"operation_id,omitempty"`
	// Captured is the reply imhook gave then, by Versions.
	Captured json.RawMessage   `json:"captured"`
	Versions []capture.Version `json:"versions"`
	// Replay is the outcome now; absent when Skipped says why the callback
	// was not run.
	Replay  *DryRun `json:"replay,omitempty"`
	Skipped string  `json:"skipped,omitempty"`
	// Changed reports whether the reply differs from Captured (as JSON
	// values: key order and spacing aside).
	Changed bool `json:"changed"`
	// Note warns when the comparison is not like for like: the captured
	// reply came from a chain of several plugins, the replay runs one.
	Note string `json:"note,omitempty"`
}

// replay runs the tenant's captured callbacks through one module, under
// the tenant's settings, as a dry run each (RunCallback), and compares the
// replies with those given then. The module is the request body
// (application/wasm), else the version ?version= (a hash or a unique
// prefix; default the active one) of the plugin ?plugin= (needed when the
// tenant has several).
func (a *API) replay(r *request) error {
	t, err := a.reg.Tenant(r.ctx, r.tenant)
	if err != nil {
		return err
	}
	q := r.rc.QueryArgs()
	_, kept, _ := a.capture.Get(r.tenant)
	if c := string(q.Peek("command")); c != "" {
		var sel []capture.Callback
		for _, cb := range kept {
			if cb.Command == c {
				sel = append(sel, cb)
			}
		}
		kept = sel
	}
	if id := string(q.Peek("id")); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return apiErrorf(fasthttp.StatusBadRequest, "id[%s]: want the number of a captured callback", id)
		}
		var sel []capture.Callback
		for _, cb := range kept {
			if cb.ID == n {
				sel = append(sel, cb)
			}
		}
		kept = sel
	}
	if len(kept) == 0 {
		return apiErrorf(fasthttp.StatusNotFound, "tenant[%s] has no captured callbacks to replay (that match); turn capture on (imhook capture on) and let callbacks come", r.tenant)
	}
	name := string(q.Peek("plugin"))
	if name == "" {
		switch len(t.Plugins) {
		case 1:
			name = t.Plugins[0].Name
		case 0:
			name = "replay"
		default:
			return apiErrorf(fasthttp.StatusBadRequest, "tenant[%s] has %d plugins: say which one the replay stands for with ?plugin=", r.tenant, len(t.Plugins))
		}
	}
	out := Replay{Plugin: name}
	var wasm []byte
	if body := r.rc.PostBody(); len(body) > 0 {
		if err := checkContentType(r.rc, "application/wasm"); err != nil {
			return err
		}
		wasm, out.Source = bytes.Clone(body), "upload"
	} else {
		r.plugin, r.hash = name, string(q.Peek("version"))
		if r.hash == "" {
			r.hash = ActiveAlias
		}
		_, _, v, err := a.version(r)
		if err != nil {
			return err
		}
		if wasm, err = a.reg.Blob(r.ctx, r.tenant, v.Hash); err != nil {
			return err
		}
		out.Source = "stored"
	}
	cfg := tenants.SandboxOptions(t, a.defaults)
	sb, err := a.eng.NewSandbox(cfg)
	if err != nil {
		return err
	}
	defer sb.Close(context.WithoutCancel(r.ctx))
	p, err := sb.Load(r.ctx, name, wasm)
	if err != nil {
		return err
	}
	out.Version = p.Hash()
	lim := openim.Limits{MaxBodyBytes: cfg.Limits.MaxInputBytes}
	for _, cb := range kept {
		res := ReplayResult{ID: cb.ID, Time: cb.Time, Command: cb.Command, OperationID: cb.OperationID,
			Captured: cb.Reply, Versions: cb.Versions}
		if len(cb.Versions) > 1 {
			res.Note = "the captured reply came from a chain of " + strconv.Itoa(len(cb.Versions)) + " plugins; the replay runs " + name + " alone"
		}
		req, err := openim.ParseRequest(cb.Command, cb.Request, lim)
		switch {
		case err != nil:
			res.Skipped = "the captured request does not parse (redacted fields?): " + err.Error()
		case !p.Handles(req.Command().String()):
			res.Skipped = "the module does not handle " + cb.Command
		default:
			dr := RunCallback(r.ctx, p, req, cb.Request, t.Settings.FailurePolicy(req.Command().String()))
			res.Replay = &dr
			res.Changed = !sameJSON(dr.Reply, cb.Reply)
		}
		if res.Changed {
			out.Changed++
		}
		out.Results = append(out.Results, res)
	}
	out.Total = len(out.Results)
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
