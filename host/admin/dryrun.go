package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/imhook/imhook/host/chain"
	"github.com/imhook/imhook/host/tenants"
	"github.com/imhook/imhook/plugins"
	"github.com/imhook/imhook/plugins/registry"
	"github.com/imhook/imhook/sdk/openim"
)

// DryRun is the outcome of running one callback through one plugin version
// without activating it: the body of POST .../versions/{hash}/test, and what
// `imhook run --json` prints.
type DryRun struct {
	Plugin  string `json:"plugin,omitempty"`
	Version string `json:"version,omitempty"` // the version's full hash
	Command string `json:"command"`

	// Reply is what imhook would answer OpenIM: the guest's JSON reply, or the
	// command's neutral reply when the guest returned none (NoReply), or the
	// failure policy's reply when the call failed. It is absent only when
	// the guest's reply is not JSON (see ReplyText).
	Reply   json.RawMessage `json:"reply,omitempty"`
	NoReply bool            `json:"no_reply,omitempty"`
	// ReplyText is the guest's reply when it is not valid JSON.
	ReplyText string `json:"reply_text,omitempty"`
	// Stops reports whether Reply makes OpenIM abort the operation
	// (actionCode 0 and nextCode 1).
	Stops bool `json:"stops"`

	Logs       []LogLine `json:"logs"`
	DurationUS int64     `json:"duration_us"`
	// LoadUS is the time taken to compile (or fetch from the cache),
	// validate and instantiate the module before the call.
	LoadUS      int64  `json:"load_us"`
	MemoryPages uint32 `json:"memory_pages"`
	MemoryBytes uint64 `json:"memory_bytes"`
	// Instructions is what the call used of its budget MaxInstructions when
	// CPULimit is "instructions"; the same input always uses the same count.
	Instructions    uint64 `json:"instructions"`
	MaxInstructions uint64 `json:"max_instructions,omitempty"`
	// OutCalls and OutCallUS are the HTTP out-calls the call made and
	// their wall-clock time (`imhook run` with --egress-allow; the admin
	// API's dry runs make none).
	OutCalls  int   `json:"out_calls,omitempty"`
	OutCallUS int64 `json:"out_call_us,omitempty"`
	// CPULimit is "instructions", "deadline" (a module that cannot be
	// metered, CPULimitReason says why) or "none".
	CPULimit       string `json:"cpu_limit"`
	CPULimitReason string `json:"cpu_limit_reason,omitempty"`

	// Error is set when the call failed or its reply is unusable; Reply is
	// then the failure policy's reply (PolicyApplied).
	Error         *CallFailure `json:"error,omitempty"`
	PolicyApplied bool         `json:"policy_applied,omitempty"`
}

// LogLine is one line the guest logged during the call.
type LogLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// CallFailure describes a failed call.
type CallFailure struct {
	// Kind is the sandbox's failure kind (cpu_time, memory, trap,
	// guest_error, ...) or bad_reply for a reply OpenIM could not decode.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Stderr is what the guest wrote to stderr, such as a Go panic trace.
	Stderr string `json:"stderr,omitempty"`
}

// RunCallback runs a parsed callback through p alone, capturing its logs,
// and reports the outcome as a DryRun. It goes through chain.Run, the code
// that serves callbacks, with policy as the tenant's failure policy, so the
// reply is exactly what imhook would answer. It is shared by the admin API's
// test route and `imhook run`.
func RunCallback(ctx context.Context, p *plugins.Plugin, req openim.Request, body []byte, policy registry.Policy) DryRun {
	c := req.Command()
	var rec recorder
	reply, _ := chain.Run(plugins.WithLogCapture(ctx), &rec, []chain.Plugin{p}, c, req, body, policy, nil)
	info := rec.info
	out := DryRun{
		Plugin:      p.Name(),
		Version:     p.Hash(),
		Command:     c.String(),
		Reply:       reply,
		NoReply:     rec.raw == nil && rec.err == nil,
		Logs:        make([]LogLine, 0, len(info.Logs)),
		DurationUS:  info.Duration.Microseconds(),
		MemoryPages: info.MemoryPages,
		MemoryBytes: uint64(info.MemoryPages) * 65536,

		Instructions:   info.Instructions,
		OutCalls:       info.OutCalls,
		OutCallUS:      info.OutCallTime.Microseconds(),
		CPULimit:       string(p.Info().CPULimit),
		CPULimitReason: p.Info().CPULimitReason,
	}
	if p.Info().CPULimit == plugins.CPULimitInstructions {
		out.MaxInstructions = p.Limits().MaxInstructions
	}
	for _, l := range info.Logs {
		out.Logs = append(out.Logs, LogLine{Level: strings.ToLower(l.Level.String()), Message: l.Message})
	}
	if rec.err != nil {
		out.Error = failure(rec.err)
		out.PolicyApplied = true
		if rec.raw != nil && !json.Valid(rec.raw) {
			out.ReplyText = string(rec.raw)
		}
	}
	if r := openim.NewReply(c); r != nil && r.DecodeJSON(out.Reply) == nil {
		out.Stops = r.Common().Stopped()
	}
	return out
}

// recorder keeps what chain.Run reports of the dry run's one call.
type recorder struct {
	raw  []byte
	info plugins.CallInfo
	err  error
}

func (r *recorder) Called(_ chain.Plugin, _ openim.Command, raw []byte, info plugins.CallInfo, err error) {
	r.raw, r.info, r.err = bytes.Clone(raw), info, err
}

// Replacement implements chain.Hooks: a dry run's plugin is never swapped.
func (r *recorder) Replacement(chain.Plugin, openim.Command) chain.Plugin { return nil }

// failure describes a call error for a DryRun.
func failure(err error) *CallFailure {
	f := &CallFailure{Kind: plugins.KindOf(err).String(), Message: err.Error()}
	var ce *plugins.CallError
	if errors.As(err, &ce) {
		f.Stderr = ce.Stderr
	}
	return f
}

// dryRun runs a stored version on the callback in the body, in a temporary
// sandbox tenant with the tenant's settings, without activating it.
func (a *API) dryRun(r *request) error {
	if err := checkContentType(r.rc, "application/json"); err != nil {
		return err
	}
	command := string(r.rc.QueryArgs().Peek("command"))
	if command == "" {
		return apiErrorf(fasthttp.StatusBadRequest, "missing query parameter command: say which callback the body is, e.g. ?command=callbackBeforeSendSingleMsgCommand")
	}
	t, _, v, err := a.version(r)
	if err != nil {
		return err
	}
	cfg := tenants.SandboxOptions(t, a.defaults)
	body := append([]byte(nil), r.rc.PostBody()...)
	req, err := openim.ParseRequest(command, body, openim.Limits{MaxBodyBytes: cfg.Limits.MaxInputBytes})
	if err != nil {
		if errors.Is(err, openim.ErrTooLarge) {
			return &APIError{Status: fasthttp.StatusRequestEntityTooLarge, Message: "callback body", Err: err}
		}
		return &APIError{Status: fasthttp.StatusBadRequest, Message: "bad callback", Err: err}
	}
	if !v.Handles(req.Command().String()) {
		return apiErrorf(fasthttp.StatusBadRequest, "version[%s] does not handle command[%s]; it declares %v", short(v.Hash), req.Command(), v.Commands)
	}
	wasm, err := a.reg.Blob(r.ctx, r.tenant, v.Hash)
	if err != nil {
		return err
	}
	st, err := a.eng.NewSandbox(cfg)
	if err != nil {
		return err
	}
	defer st.Close(context.WithoutCancel(r.ctx))
	start := time.Now()
	p, err := st.Load(r.ctx, r.plugin, wasm)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	out := RunCallback(r.ctx, p, req, body, t.Settings.FailurePolicy(req.Command().String()))
	out.LoadUS = loaded.Microseconds()
	writeJSON(r.rc, fasthttp.StatusOK, out)
	return nil
}
