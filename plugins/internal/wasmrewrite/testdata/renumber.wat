;; renumber.wat: every place a module names a function, for the renumbering
;; Meter does when it appends its refuel import (every defined function's
;; index grows by one). Two imported functions stay where they are; the
;; defined ones are reached through calls, ref.func, exports, the start
;; function, a global initialiser, and element segments of every form
;; (binary flags 0-7: active, passive and declarative, with function indices
;; and with expressions). Every export returns a number that depends on which
;; function was reached, so a wrong index changes a result or traps.
(module
  (type $ret (func (result i32)))
  (import "env" "seven" (func $seven (result i32)))
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (table $t0 8 funcref)
  (table $t1 4 funcref)
  (global $started (mut i32) (i32.const 0))
  ;; A global initialised with ref.func.
  (global $gref funcref (ref.func $f30))

  (func $f10 (result i32) (i32.const 10))
  (func $f20 (result i32) (i32.const 20))
  (func $f30 (result i32) (i32.const 30))
  (func $f40 (result i32) (i32.const 40))
  (func $f50 (result i32) (i32.const 50))
  (func $f60 (result i32) (i32.const 60))
  (func $f70 (result i32) (i32.const 70))
  (func $f80 (result i32) (i32.const 80))

  ;; flags 0: active, table 0, function indices.
  (elem (i32.const 0) $f10 $f20)
  ;; flags 1: passive, function indices.
  (elem $pass func $f40 $f50)
  ;; flags 2: active, table 1, function indices.
  (elem (table $t1) (i32.const 0) func $f60)
  ;; flags 3: declarative, function indices (for ref.func $f70 in code).
  (elem declare func $f70)
  ;; flags 4: active, table 0, expressions.
  (elem (i32.const 2) funcref (ref.func $f80) (ref.null func))
  ;; flags 5: passive, expressions.
  (elem $passexpr funcref (ref.func $f20) (ref.null func) (ref.func $seven))
  ;; flags 6: active, table 1, expressions (wat2wasm picks the expression
  ;; forms only when a segment holds something other than ref.func).
  (elem (table $t1) (i32.const 1) funcref (ref.func $f30) (ref.null func))
  ;; flags 7: declarative, expressions (for ref.func $f40 in code).
  (elem declare funcref (ref.func $f40) (ref.null func))

  (func $start (global.set $started (i32.const 1)))
  (start $start)

  ;; Direct calls of defined and imported functions.
  (func $calls (export "calls") (result i32)
    (call $add
      (call $f10)
      (call $add (call $seven) (call $f50))))

  ;; call_indirect through the active segments.
  (func $table0 (export "table0") (param $i i32) (result i32)
    (call_indirect $t0 (type $ret) (local.get $i)))
  (func $table1 (export "table1") (param $i i32) (result i32)
    (call_indirect $t1 (type $ret) (local.get $i)))

  ;; table.init from the passive segments into table 0 at 4.
  (func (export "init_pass") (param $i i32) (result i32)
    (table.init $t0 $pass (i32.const 4) (i32.const 0) (i32.const 2))
    (call_indirect $t0 (type $ret) (i32.add (i32.const 4) (local.get $i))))
  (func (export "init_passexpr") (param $i i32) (result i32)
    (table.init $t0 $passexpr (i32.const 4) (i32.const 0) (i32.const 3))
    (call_indirect $t0 (type $ret) (i32.add (i32.const 4) (local.get $i))))

  ;; ref.func in code, of functions declared by the declarative segments.
  (func (export "reffunc") (param $which i32) (result i32)
    (table.set $t1 (i32.const 3)
      (select (result funcref) (ref.func $f70) (ref.func $f40) (local.get $which)))
    (call_indirect $t1 (type $ret) (i32.const 3)))

  ;; The global initialised with ref.func.
  (func (export "global") (result i32)
    (table.set $t1 (i32.const 2) (global.get $gref))
    (call_indirect $t1 (type $ret) (i32.const 2)))

  (func (export "started") (result i32) (global.get $started))

  ;; A trap three calls deep, for the names in the stack trace.
  (func $inner (param $depth i32) (result i32)
    (if (i32.eqz (local.get $depth)) (then unreachable))
    (call $inner (i32.sub (local.get $depth) (i32.const 1))))
  (func (export "trap") (result i32) (call $inner (i32.const 2)))

  ;; Exports of imported and defined functions, and of a table.
  (export "seven" (func $seven))
  (export "f80" (func $f80))
  (export "t0" (table $t0))
)
