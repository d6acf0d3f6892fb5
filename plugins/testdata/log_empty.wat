;; log_empty: logs empty lines in a loop, which cost no bytes of their own.
;; Expect KindLogBytes once MaxLogLines is spent, or MaxLogBytes when lines
;; are allowed more (each line counts at least 64 bytes).
(module
  (import "imhook" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (loop $forever
      (call $log (i32.const 0) (i32.const 0) (i32.const 0))
      (br $forever))
    (i64.const 0))
)
