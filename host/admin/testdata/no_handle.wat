;; no_handle: lacks the imhook_handle export. Uploads must get 422.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 34))
  (func (export "imhook_buffer") (param $n i32) (result i64) (i64.const 0x0001000000010000))
)
