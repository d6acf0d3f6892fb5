;; allow: a guest that lets every single-chat message through by giving no
;; reply (the host answers the neutral reply). A second valid version next to
;; stop.wat, for activation and rollback tests.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 34))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.const 0x0001000000010000))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (i64.const 0))
)
