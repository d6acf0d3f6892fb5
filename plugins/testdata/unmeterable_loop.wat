;; unmeterable_loop: loops forever in imhook_handle, and already exports a
;; global named imhook_fuel, which the metering rewriter refuses. Expect the
;; plugin to fall back to the deadline CPU limit (ModuleInfo.CPULimit
;; "deadline", the reason naming imhook_fuel) and KindCPUTime within CallTimeout.
(module
  (import "imhook" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (global (export "imhook_fuel") (mut i64) (i64.const 0))
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0))
)
