;; host_loop: calls the config host function in a loop forever with a missing
;; key (a few guest instructions per iteration, the host does the work).
;; Expect KindCPUTime: each host call is billed to the instruction budget.
(module
  (import "imhook" "config" (func $config (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (data (i32.const 64) "missing")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (loop $forever
      (drop (call $config (i32.const 64) (i32.const 7) (i32.const 128) (i32.const 16)))
      (br $forever))
    (i64.const 0))
)
