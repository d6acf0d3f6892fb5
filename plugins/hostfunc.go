package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/abi"
)

// hostFunc is one function a guest can import. Two tables of them, hostFuncs
// (module "imhook") and wasiFuncs (module "wasi_snapshot_preview1", wasi.go),
// are the only lists: each registers its host module, checks a module's
// imports at load (names, types, grants), words the refusal, and a test holds
// docs/abi.md to it. A guest reaches the host through these rows and nothing
// else.
//
// A host function that reaches an outside service (a store, the network)
// gets it from the tenant's SandboxOptions, where the host injects a small
// interface of this package's (as a log/slog.Logger is injected for log),
// so that the sandbox imports no store or client; it needs a grant, so that
// a tenant uses it only when the operator allowed it; and it bills its real
// work to the instruction budget through hostCall.bill.
type hostFunc struct {
	name        string
	params      []api.ValueType
	paramNames  []string
	results     []api.ValueType
	resultNames []string
	// grant is the limits grant a tenant needs to import the function; ""
	// for every guest.
	grant string
	// fixed and rates are what a metered call is billed, in instructions:
	// fixed, plus each rate times its count of units (bytes, iovecs...),
	// as fn passes them to hostCall.bill. docs/abi.md repeats them (cost).
	fixed uint64
	rates []rate
	// behaviour says what the function does for a guest, for docs/abi.md
	// (WASI rows; imhook's functions are described in prose there).
	behaviour string
	fn        func(c hostCall)
}

// rate is a cost per unit of work, such as 1 per byte.
type rate struct {
	n    uint64
	unit string
}

func (f *hostFunc) sig() signature { return signature{f.params, f.results} }

// cost says what a call is billed, as docs/abi.md writes it: "1000 + 1 per byte".
func (f *hostFunc) cost() string {
	s := strconv.FormatUint(f.fixed, 10)
	for _, r := range f.rates {
		s += " + " + strconv.FormatUint(r.n, 10) + " per " + r.unit
	}
	return s
}

// hostCall is one call of a host function: what its implementation needs.
type hostCall struct {
	i     *instance
	f     *hostFunc
	m     api.Module // the calling guest
	stack []uint64   // parameters in, results out
	// next is wazero's own implementation of a WASI function, for the rows
	// that bill and check a call and then hand it on (wasi.go); else nil.
	next api.GoModuleFunction
}

// bill charges the call's cost to the guest's budget: the row's fixed cost
// plus each of its rates times units[k]. It stops the guest when the budget
// or the call's wall-clock deadline is spent (hostEnter).
func (c hostCall) bill(units ...uint64) {
	cost := c.f.fixed
	for k, n := range units {
		cost += c.f.rates[k].n * n
	}
	c.i.hostEnter(c.f.name, cost)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// hostTable is a list of host functions.
type hostTable []hostFunc

// hostFuncs are the functions of abi.HostModule.
var hostFuncs = hostTable{
	{
		name: abi.FuncLog, params: []api.ValueType{i32, i32, i32}, paramNames: []string{"level", "ptr", "len"},
		fixed: hostLogCost, rates: []rate{{1, "byte"}}, fn: hostLog,
	},
	{
		name: abi.FuncConfig, params: []api.ValueType{i32, i32, i32, i32}, paramNames: []string{"key_ptr", "key_len", "buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"},
		fixed: hostCallCost, rates: []rate{{1, "byte of key and value"}}, fn: hostConfig,
	},
	{
		name: abi.FuncLastError, params: []api.ValueType{i32, i32}, paramNames: []string{"buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"},
		fixed: hostCallCost, rates: []rate{{1, "byte"}}, fn: hostLastError,
	},
	{
		name: abi.FuncTakeResult, params: []api.ValueType{i32, i32}, paramNames: []string{"buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"},
		fixed: hostCallCost, rates: []rate{{1, "byte"}}, fn: hostTakeResult,
	},
	// Out-calls (hosthttp.go).
	{
		name: abi.FuncHTTP, params: []api.ValueType{i32, i32, i32, i32}, paramNames: []string{"req_ptr", "req_len", "buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"}, grant: limits.GrantHTTP,
		fixed: hostHTTPCost, rates: []rate{{1, "byte of request and response"}}, fn: hostHTTP,
	},
	{
		name: abi.FuncSecret, params: []api.ValueType{i32, i32, i32, i32}, paramNames: []string{"name_ptr", "name_len", "buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"}, grant: limits.GrantHTTP,
		fixed: hostSecretCost, rates: []rate{{1, "byte of name and value"}}, fn: hostSecret,
	},
	// Queued after-callbacks (hostdelivery.go).
	{
		name: abi.FuncDelivery, params: []api.ValueType{i32, i32}, paramNames: []string{"buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"},
		fixed: hostCallCost, rates: []rate{{1, "byte"}}, fn: hostDelivery,
	},
	{
		name: abi.FuncRetry, params: []api.ValueType{i64}, paramNames: []string{"delay_ms"},
		results: []api.ValueType{i32}, resultNames: []string{"status"},
		fixed: hostCallCost, fn: hostRetry,
	},
	// The tenant's key-value state (hostkv.go).
	{
		name: abi.FuncKVGet, params: []api.ValueType{i32, i32, i32, i32, i32}, paramNames: []string{"key_ptr", "key_len", "buf_ptr", "buf_cap", "rev_ptr"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVGet,
	},
	{
		name: abi.FuncKVSet, params: []api.ValueType{i32, i32, i32, i32, i64}, paramNames: []string{"key_ptr", "key_len", "val_ptr", "val_len", "ttl_ms"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVSet,
	},
	{
		name: abi.FuncKVCompareAndSet, params: []api.ValueType{i32, i32, i32, i32, i64, i64, i32}, paramNames: []string{"key_ptr", "key_len", "val_ptr", "val_len", "ttl_ms", "rev", "rev_ptr"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVCompareAndSet,
	},
	{
		name: abi.FuncKVDelete, params: []api.ValueType{i32, i32}, paramNames: []string{"key_ptr", "key_len"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVDelete,
	},
	{
		name: abi.FuncKVAdd, params: []api.ValueType{i32, i32, i64, i64, i32}, paramNames: []string{"key_ptr", "key_len", "delta", "ttl_ms", "result_ptr"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVAdd,
	},
	{
		name: abi.FuncKVList, params: []api.ValueType{i32, i32, i32, i32, i32, i32, i32}, paramNames: []string{"prefix_ptr", "prefix_len", "cursor_ptr", "cursor_len", "limit", "buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"result"},
		grant: limits.GrantKV, fixed: hostKVCost, rates: kvRate, fn: hostKVList,
	},
}

// lookup returns the host function named name.
func (t hostTable) lookup(name string) (*hostFunc, bool) {
	for k := range t {
		if t[k].name == name {
			return &t[k], true
		}
	}
	return nil, false
}

// names lists the host functions for error messages.
func (t hostTable) names() string {
	names := make([]string, len(t))
	for k, f := range t {
		names[k] = f.name
	}
	return strings.Join(names, ", ")
}

// instantiate adds the table as host module to a runtime. next
// holds the implementations the rows may hand calls on to (wazero's WASI
// functions, by name). The functions are stateless: they find the calling
// instance in ctx (the instance is the context of its own calls, see cpu.go).
func (t hostTable) instantiate(ctx context.Context, rt wazero.Runtime, module string, next map[string]api.GoModuleFunction) error {
	b := rt.NewHostModuleBuilder(module)
	for k := range t {
		f := &t[k]
		nextFn := next[f.name]
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				i, _ := ctx.Value(instanceKey{}).(*instance)
				if i == nil {
					return // called outside a call the host started: cannot happen
				}
				if i.initializing {
					i.noteInitCall(module, f.name, stack)
				}
				f.fn(hostCall{i: i, f: f, m: m, stack: stack, next: nextFn})
			}), f.params, f.results).
			WithParameterNames(f.paramNames...).
			WithResultNames(f.resultNames...).
			Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module[%s]: %w", module, err)
	}
	return nil
}

// instantiateHostModule adds the "imhook" host module to a runtime.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	return hostFuncs.instantiate(ctx, rt, abi.HostModule, nil)
}

// checkHostImport checks one import from abi.HostModule against the table.
func checkHostImport(name string, params, results []api.ValueType) error {
	f, ok := hostFuncs.lookup(name)
	if !ok {
		return fmt.Errorf("guest imports func[%s.%s]; host module %s provides only %s", abi.HostModule, name, abi.HostModule, hostFuncs.names())
	}
	return f.checkType(abi.HostModule, params, results)
}

// checkType refuses an import of f under another type.
func (f *hostFunc) checkType(module string, params, results []api.ValueType) error {
	if !f.sig().equal(params, results) {
		return fmt.Errorf("guest imports func[%s.%s] as %s, want %s", module, f.name, signature{params, results}, f.sig())
	}
	return nil
}

// checkGrants refuses a module that imports a host function its tenant is
// not granted. It runs at every load, since grants change without the
// module being compiled again.
func (t hostTable) checkGrants(cm wazero.CompiledModule, g limits.Grants) error {
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		if mod != abi.HostModule {
			continue
		}
		if f, ok := t.lookup(name); ok && f.grant != "" && !g.Has(f.grant) {
			return &LoadError{Kind: KindInvalidModule, Err: fmt.Errorf("guest imports func[%s.%s], which needs grant[%s]; the operator grants it (imhook tenant update --grants)", mod, name, f.grant)}
		}
	}
	return nil
}

// hostLog implements abi.FuncLog: (level i32, ptr i32, len i32) -> ().
// Going over MaxLogLines or MaxLogBytes in one call stops the guest with
// KindLogBytes; a line counts at least limits.MinLogLineBytes, so that a
// flood of empty lines is bounded like one of long lines. A metered guest
// pays hostLogCost plus one instruction per byte.
func hostLog(c hostCall) {
	i, m, stack := c.i, c.m, c.stack
	level := slog.Level(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	c.bill(uint64(n))
	if i.logLines++; i.logLines > i.p.lim.MaxLogLines {
		i.stopGuest(KindLogBytes, fmt.Errorf("guest logged %d lines in one call > max_log_lines[%d]", i.logLines, i.p.lim.MaxLogLines))
	}
	i.logBytes += max(int(n), limits.MinLogLineBytes)
	if i.logBytes > i.p.lim.MaxLogBytes {
		i.stopGuest(KindLogBytes, fmt.Errorf("guest logged %d bytes in one call (a line counts at least %d) > max_log_bytes[%d]", i.logBytes, limits.MinLogLineBytes, i.p.lim.MaxLogBytes))
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		i.stopGuest(KindBadReply, fmt.Errorf("%s: [%#x, +%d) is outside guest memory", abi.FuncLog, ptr, n))
	}
	st := i.p.t.state.Load()
	b = st.redact(b) // a secret the guest read never reaches a log
	if i.capture {
		i.logs = append(i.logs, LogLine{Level: level, Message: logText(b)})
		return
	}
	// Log with the caller's context of this call, so that the host's handler
	// can read its values (the callback's operation ID). ctx is the instance
	// itself, which holds no caller values.
	lctx := i.ctx
	if lctx == nil {
		lctx = context.Background()
	}
	if !st.logger.Enabled(lctx, level) {
		return
	}
	msg, attrs := splitLogLine(b)
	st.logger.LogAttrs(lctx, level, msg,
		slog.String("tenant", i.p.t.id),
		slog.String("plugin", i.p.name),
		slog.String("plugin_version", i.p.shortHash()),
		slog.String("command", i.command),
		attrs)
}

// hostConfig implements abi.FuncConfig:
// (keyPtr i32, keyLen i32, bufPtr i32, bufCap i32) -> i32.
// It returns -1 for a missing key, else the value's length, writing the value
// only when it fits (the guest retries with a bigger buffer otherwise). A
// metered guest pays hostCallCost plus one instruction per byte of key and
// value.
func hostConfig(c hostCall) {
	i, m, stack := c.i, c.m, c.stack
	keyPtr, keyLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	bufPtr, bufCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	mem := m.Memory()
	key, ok := mem.Read(keyPtr, keyLen)
	if !ok {
		i.stopGuest(KindBadReply, fmt.Errorf("%s: key [%#x, +%d) is outside guest memory", abi.FuncConfig, keyPtr, keyLen))
	}
	v, found := i.p.t.state.Load().config[string(key)]
	c.bill(uint64(keyLen) + uint64(len(v)))
	if !found {
		stack[0] = api.EncodeI32(-1)
		return
	}
	if uint32(len(v)) <= bufCap && !mem.WriteString(bufPtr, v) {
		i.stopGuest(KindBadReply, fmt.Errorf("%s: buffer [%#x, +%d) is outside guest memory", abi.FuncConfig, bufPtr, bufCap))
	}
	stack[0] = api.EncodeI32(int32(len(v)))
}

// captureKey is the context key set by WithLogCapture.
type captureKey struct{}

// WithLogCapture returns a context that makes Plugin.Call return the guest's
// log lines in CallInfo.Logs instead of sending them to the tenant's logger.
// For dry runs (`imhook run`, the admin API's test call).
//
// Without it, each line goes to SandboxOptions.Logger with the context given
// to Plugin.Call, so the logger's slog.Handler can add values the caller put
// in that context (the host adds the callback's operation ID that way).
func WithLogCapture(ctx context.Context) context.Context {
	return context.WithValue(ctx, captureKey{}, true)
}
