package plugins

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/imhook/imhook/sdk/abi"
)

// instantiateHostModule adds the "imhook" host module to a tenant's runtime.
// The functions are stateless: they find the calling instance in ctx (the
// instance is the context of its own calls, see cpu.go).
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := rt.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.FuncLog).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostConfig), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("key_ptr", "key_len", "buf_ptr", "buf_cap").
		WithResultNames("len").
		Export(abi.FuncConfig).
		Instantiate(ctx)
	if err != nil {
		return fmt.Errorf("instantiate host module[%s]: %w", abi.HostModule, err)
	}
	return nil
}

// hostImports lists the host functions and their signatures, to check a
// module's imports at load with a clear message.
var hostImports = map[string]signature{
	abi.FuncLog:    {params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}},
	abi.FuncConfig: {params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}},
}

// hostLog implements abi.FuncLog: (level i32, ptr i32, len i32) -> ().
// Going over MaxLogBytes in one call stops the guest with KindLogBytes. A
// metered guest pays hostLogCost plus one instruction per byte (hostEnter).
func hostLog(ctx context.Context, m api.Module, stack []uint64) {
	i, _ := ctx.Value(instanceKey{}).(*instance)
	if i == nil {
		return // called outside a call we started: cannot happen, ignore
	}
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
		i.logs = append(i.logs, LogLine{Level: level, Message: string(b)})
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
	st.logger.LogAttrs(lctx, level, string(b),
		slog.String("tenant", i.p.t.id),
		slog.String("plugin", i.p.name),
		slog.String("plugin_version", i.p.shortHash()),
		slog.String("command", i.command))
}

// hostConfig implements abi.FuncConfig:
// (keyPtr i32, keyLen i32, bufPtr i32, bufCap i32) -> i32.
// It returns -1 for a missing key, else the value's length, writing the value
// only when it fits (the guest retries with a bigger buffer otherwise). A
// metered guest pays hostCallCost plus one instruction per byte of key and
// value (hostEnter).
func hostConfig(ctx context.Context, m api.Module, stack []uint64) {
	i, _ := ctx.Value(instanceKey{}).(*instance)
	if i == nil {
		stack[0] = api.EncodeI32(-1)
		return
	}
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
// Without it, each line goes to TenantConfig.Logger with the context given
// to Plugin.Call, so the logger's slog.Handler can add values the caller put
// in that context (the host adds the callback's operation ID that way).
func WithLogCapture(ctx context.Context) context.Context {
	return context.WithValue(ctx, captureKey{}, true)
}
