;; input_formats_trap: the optional imhook_input_formats traps. Expect the
;; module refused at load with a trap, like any other failing metadata export.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  (func (export "imhook_input_formats") (result i32) (unreachable))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param i32 i32) (result i64) (i64.const 0))
)
