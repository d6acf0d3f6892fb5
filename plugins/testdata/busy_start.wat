;; busy_start: a start function that never returns. Metered, the start
;; function runs on the budget the rewriter gives it (100 million
;; instructions, wasmrewrite.DefaultStartFuel) and is stopped by refuel
;; when that is spent: Load fails with KindCPUTime.
(module
  (memory (export "memory") 1)
  (func $spin (loop $l (br $l)))
  (start $spin)
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 0))
  (func (export "imhook_buffer") (param i32) (result i64) (i64.const 0))
  (func (export "imhook_handle") (param i32 i32) (result i64) (i64.const 0))
)
