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
// Used alone, a Fuel gives a call its whole budget at once: the runtime's
// refuel (MeterModule.RefuelFunc) then only has to stop the guest, which
// Exhausted recognises. Budget hands the budget out in slices instead.
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
// spent more than its budget; the guest calls refuel at the next function
// entry or loop header.
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
// also counts as exhausted; the budget was spent either way. It assumes the
// whole budget was set at once (with a Budget, use Budget.Exhausted).
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

// Budget gives each call of an instance its instruction budget in slices, so
// that the guest comes back to the host (through RefuelFunc) every slice
// instructions: a runtime can then check a deadline or a stop request, or
// let other work run, at short and bounded intervals, even while the guest
// computes without calling anything.
//
//	b := wasmrewrite.Budget{Fuel: fuel} // once per instance
//	b.Start(limit, slice)               // before each call
//	// refuel, the host function MeterModule.RefuelFunc:
//	if !b.Refill() { panic(errOutOfFuel) } // the whole budget is spent
//	// after the call:
//	used := b.Used()
//	if b.Exhausted(callErr) { /* out of instructions */ }
//
// Slicing changes nothing the guest or the count can see: the refuel call is
// not charged, and Refill stops the guest at the same check, with the same
// Used, as a budget set at once would. Host functions charge the same
// budget with Charge; when it reports false, the slice is spent and they
// call Refill as refuel would.
//
// A Budget is as safe for concurrent use as the instance it belongs to: not
// at all, one call at a time. Its zero value has no Fuel and is not usable.
type Budget struct {
	Fuel
	total  uint64 // the call's budget, at most math.MaxInt64
	size   uint64 // the slice size, at least 1
	banked uint64 // charged in the slices before the current one
	slice  uint64 // what the global was set to when the current slice began
}

// Start begins a call with a budget of total instructions (capped at
// math.MaxInt64), handing the guest at most slice of them at a time. A zero
// slice means the whole budget at once.
func (b *Budget) Start(total, slice uint64) {
	b.total = min(total, math.MaxInt64)
	if slice == 0 {
		slice = b.total
	}
	b.size = max(slice, 1)
	b.banked = 0
	b.slice = min(b.size, b.total)
	b.Fuel.Set(b.slice)
}

// Total returns the call's budget, as given to Start (capped).
func (b *Budget) Total() uint64 { return b.total }

// Used returns the instructions charged since Start, in every slice, host
// charges included. Like Fuel.Used, it can exceed the budget by the code run
// between two checks.
func (b *Budget) Used() uint64 {
	return b.banked + b.slice - uint64(b.Remaining())
}

// Refill is what the refuel host function does when the guest finds its fuel
// negative, and what a host function does when Charge reports false. If the
// call has used more than its budget it reports false and leaves the fuel
// negative: the caller must stop the guest (panic), and Exhausted then
// reports the call as out of fuel. Otherwise it banks what the slice used,
// overdraw included, and sets the fuel to the next slice: the budget's rest
// when that is smaller, possibly 0 (the guest then runs on until its next
// check, where it is stopped if it used anything more).
func (b *Budget) Refill() bool {
	used := b.Used()
	if used > b.total {
		return false
	}
	b.banked = used
	b.slice = min(b.size, b.total-used)
	b.Fuel.Set(b.slice)
	return true
}

// Resize sets the slice size to slice instructions (at least 1) for the
// rest of the call and the calls after it, and resizes the current slice,
// which must be fresh: just begun by Start or Refill, nothing run in it.
// A runtime that wants its slices to last about the same time whatever the
// code does calls it after Refill with what the last slice's speed says.
// Like the slice size itself, it changes nothing the count can see.
func (b *Budget) Resize(slice uint64) {
	b.size = max(slice, 1)
	b.slice = min(b.size, b.total-b.banked)
	b.Fuel.Set(b.slice)
}

// Slice returns the slice size.
func (b *Budget) Slice() uint64 { return b.size }

// Exhausted reports whether a call that returned callErr was stopped because
// it used more than its budget: the call failed and Used exceeds the total.
// As with Fuel.Exhausted, a trap of another kind just after overdrawing the
// last slice also counts.
func (b *Budget) Exhausted(callErr error) bool {
	return callErr != nil && b.Used() > b.total
}
