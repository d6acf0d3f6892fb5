;; runaway.wat: guests that never stop on their own. The metered module must
;; trap on each with fuel below zero.
(module
  (memory (export "memory") 1)
  ;; A tight infinite loop.
  (func (export "spin")
    (loop $l (br $l)))
  ;; Unbounded recursion; wazero's call-stack limit would stop it too, but the
  ;; budget should stop it first when it is small.
  (func $down (export "down") (param $n i64) (result i64)
    (i64.add (call $down (i64.add (local.get $n) (i64.const 1))) (i64.const 1)))
  ;; An endless loop that fills memory: bulk operations must be charged.
  (func (export "fill")
    (loop $l
      (memory.fill (i32.const 0) (i32.const 1) (i32.const 65536))
      (br $l)))
)
