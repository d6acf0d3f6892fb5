;; wasi_unknown: a guest importing a name that is not a WASI preview 1
;; function. Expect the load refused (KindInvalidModule) with a message naming
;; it; wasi_wrong_type.wat imports fd_write under the wrong type.
(module
  (import "wasi_snapshot_preview1" "fd_nope" (func (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64) (i64.const 0))
)
