;; wrong_abi: otherwise valid, but reports ABI version 2. Uploads must get 422.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 2))
  (func (export "imhook_commands") (result i64) (i64.const 34))
  (func (export "imhook_buffer") (param $n i32) (result i64) (i64.const 0x0001000000010000))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64) (i64.const 0))
)
