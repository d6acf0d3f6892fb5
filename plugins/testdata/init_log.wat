;; init_log: logs a line from _initialize. A copy of the instance would not
;; log it again, so its instances are not started from a snapshot: expect
;; the reason "_initialize called imhook.log".
(module
  (import "imhook" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64) (i64.const 0))
  (func (export "_initialize")
    (call $log (i32.const 1) (i32.const 0) (i32.const 8)))
)
