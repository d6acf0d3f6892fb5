package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/plugins/limits"
	"github.com/imhook/imhook/sdk/abi"
)

// hostFunc is one function of the "imhook" host module. hostFuncs, the
// table of them, is the only list: it registers the module, checks a
// module's imports at load (names, types, grants), words the refusal, and
// TestHostFuncsDocumented holds docs/abi.md to it.
//
// A host function that reaches an outside service (a store, the network)
// gets it from the tenant's SandboxOptions, where the host injects a small
// interface of this package's (as a log/slog.Logger is injected for log),
// so that the sandbox imports no store or client; it needs a grant, so that
// a tenant uses it only when the operator allowed it; and it bills its real
// work to the instruction budget through hostEnter.
type hostFunc struct {
	name        string
	params      []api.ValueType
	paramNames  []string
	results     []api.ValueType
	resultNames []string
	// grant is the limits grant a tenant needs to import the function; ""
	// for every guest.
	grant string
	// cost says what a metered call is billed (docs/abi.md repeats it).
	cost string
	fn   func(i *instance, m api.Module, stack []uint64)
}

func (f *hostFunc) sig() signature { return signature{f.params, f.results} }

var i32 = api.ValueTypeI32

// hostTable is a list of host functions.
type hostTable []hostFunc

// hostFuncs are the functions of abi.HostModule.
var hostFuncs = hostTable{
	{
		name: abi.FuncLog, params: []api.ValueType{i32, i32, i32}, paramNames: []string{"level", "ptr", "len"},
		cost: "10000 + 1 per byte", fn: hostLog,
	},
	{
		name: abi.FuncConfig, params: []api.ValueType{i32, i32, i32, i32}, paramNames: []string{"key_ptr", "key_len", "buf_ptr", "buf_cap"},
		results: []api.ValueType{i32}, resultNames: []string{"len"},
		cost: "1000 + 1 per byte of key and value", fn: hostConfig,
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

// instantiateHostModule adds the "imhook" host module to a tenant's runtime.
// The functions are stateless: they find the calling instance in ctx (the
// instance is the context of its own calls, see cpu.go).
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	for _, f := range hostFuncs {
		fn := f.fn
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
				i, _ := ctx.Value(instanceKey{}).(*instance)
				if i == nil {
					return // called outside a call the host started: cannot happen
				}
				fn(i, m, stack)
			}), f.params, f.results).
			WithParameterNames(f.paramNames...).
			WithResultNames(f.resultNames...).
			Export(f.name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("instantiate host module[%s]: %w", abi.HostModule, err)
	}
	return nil
}

// checkHostImport checks one import from abi.HostModule against the table.
func checkHostImport(name string, params, results []api.ValueType) error {
	f, ok := hostFuncs.lookup(name)
	if !ok {
		return fmt.Errorf("guest imports func[%s.%s]; host module %s provides only %s", abi.HostModule, name, abi.HostModule, hostFuncs.names())
	}
	if !f.sig().equal(params, results) {
		return fmt.Errorf("guest imports func[%s.%s] as %s, want %s", abi.HostModule, name, signature{params, results}, f.sig())
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
// Going over MaxLogBytes in one call stops the guest with KindLogBytes. A
// metered guest pays hostLogCost plus one instruction per byte (hostEnter).
func hostLog(i *instance, m api.Module, stack []uint64) {
	level := slog.Level(api.DecodeI32(stack[0]))
	ptr, n := api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	i.hostEnter(abi.FuncLog, hostLogCost+uint64(n))
	i.logBytes += int(n)
	if i.logBytes > i.p.lim.MaxLogBytes {
		i.stopGuest(KindLogBytes, fmt.Errorf("guest logged %d bytes in one call > max_log_bytes[%d]", i.logBytes, i.p.lim.MaxLogBytes))
	}
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		i.stopGuest(KindBadReply, fmt.Errorf("%s: [%#x, +%d) is outside guest memory", abi.FuncLog, ptr, n))
	}
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
	st := i.p.t.state.Load()
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
// value (hostEnter).
func hostConfig(i *instance, m api.Module, stack []uint64) {
	keyPtr, keyLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	bufPtr, bufCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	mem := m.Memory()
	key, ok := mem.Read(keyPtr, keyLen)
	if !ok {
		i.stopGuest(KindBadReply, fmt.Errorf("%s: key [%#x, +%d) is outside guest memory", abi.FuncConfig, keyPtr, keyLen))
	}
	v, found := i.p.t.state.Load().config[string(key)]
	i.hostEnter(abi.FuncConfig, hostCallCost+uint64(keyLen)+uint64(len(v)))
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
