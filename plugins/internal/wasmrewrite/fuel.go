package wasmrewrite

import (
	"fmt"
	"math"

	"github.com/tetratelabs/wazero/api"
)

// Fuel is the handle a runtime keeps per instance of a metered module to set
// and read its budget without looking the global up on every call.
//
//	fuel, err := wasmrewrite.NewFuel(mod)
//	...
//	fuel.Set(limit)
//	_, callErr := handle.Call(ctx, ...)
//	used := fuel.Used(limit)
//	if fuel.Exhausted(callErr) { /* the call ran out of instructions */ }
//
// A Fuel is as safe for concurrent use as the instance it belongs to: not at
// all, one call at a time.
type Fuel struct {
	g api.MutableGlobal
}

// NewFuel returns the Fuel of an instance of a module rewritten by Meter.
//
// # Errors
//
// The module does not export FuelGlobal as a mutable i64 global: it was not
// metered.
func NewFuel(m api.Module) (Fuel, error) {
	g, ok := m.ExportedGlobal(FuelGlobal).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI64 {
		return Fuel{}, fmt.Errorf("module[%s] is not metered: it does not export mutable i64 global[%s]", m.Name(), FuelGlobal)
	}
	return Fuel{g: g}, nil
}

// Set sets the remaining budget to budget instructions, capped at
// math.MaxInt64.
func (f Fuel) Set(budget uint64) {
	f.g.Set(min(budget, math.MaxInt64))
}

// Remaining returns the remaining budget. It is negative once the guest has
// spent more than its budget; the guest traps at the next function entry or
// loop header.
func (f Fuel) Remaining() int64 { return int64(f.g.Get()) }

// Used returns the instructions charged since the budget was set to budget.
// It can exceed budget by the code run between two checks, which is bounded
// by the size of the functions on the stack and is typically tens to hundreds
// of instructions. That happens after an exhausted call, and also after a
// call that overdrew on its last stretch of straight-line code and returned
// before reaching another check. A runtime that wants a hard limit treats
// Used > budget as exhausted whatever the call returned.
func (f Fuel) Used(budget uint64) uint64 {
	return min(budget, math.MaxInt64) - uint64(f.Remaining())
}

// Exhausted reports whether a call that returned callErr was stopped because
// it ran out of fuel: the call failed and the fuel is negative. A guest
// cannot fake it, because only the injected code writes the global. A trap of
// another kind in the few instructions between overdrawing and the next check
// also counts as exhausted; the budget was spent either way.
func (f Fuel) Exhausted(callErr error) bool {
	return callErr != nil && f.Remaining() < 0
}

// SetFuel sets the remaining budget of an instance of a metered module. It
// looks the global up each time; runtimes that call often keep a Fuel.
//
// # Errors
//
// The module was not metered (see NewFuel).
func SetFuel(m api.Module, budget uint64) error {
	f, err := NewFuel(m)
	if err != nil {
		return err
	}
	f.Set(budget)
	return nil
}

// FuelUsed returns the instructions an instance of a metered module was
// charged since its budget was set to budget, or 0 when the module was not
// metered.
func FuelUsed(m api.Module, budget uint64) uint64 {
	f, err := NewFuel(m)
	if err != nil {
		return 0
	}
	return f.Used(budget)
}

// IsOutOfFuel reports whether callErr, returned by a call into an instance of
// a metered module, means the guest ran out of fuel. It is false for a nil
// error and for modules that were not metered.
func IsOutOfFuel(m api.Module, callErr error) bool {
	f, err := NewFuel(m)
	return err == nil && f.Exhausted(callErr)
}

// Charge subtracts units from the remaining budget and reports whether the
// budget still covers them. Host functions call it to make the guest pay for
// work done on its behalf (a fixed cost per call plus a cost per byte
// copied), which bounds the time a guest can spend in host functions without
// a timer goroutine. When it returns false the host function should trap the
// guest, for example by panicking with the runtime's out-of-fuel error; the
// fuel is then negative, so Exhausted reports the call as out of fuel.
func (f Fuel) Charge(units uint64) bool {
	left := f.Remaining() - int64(min(units, math.MaxInt64))
	f.g.Set(uint64(left))
	return left >= 0
}
