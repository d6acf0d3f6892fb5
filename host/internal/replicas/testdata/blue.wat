;; blue: one of two behaviourally different versions of the same plugin, for
;; the multi-replica tests. It stops every single-chat message with errCode
;; 5001 and errMsg "blue", so a callback's reply tells which version served it.
;; The tests append a custom section to make each upload a new hash without
;; changing behaviour.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (data (i32.const 128) "{\"actionCode\":0,\"errCode\":5001,\"errMsg\":\"blue\",\"errDlt\":\"\",\"nextCode\":1}")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  ;; commands: ptr 0, len 34
  (func (export "imhook_commands") (result i64) (i64.const 34))
  ;; a fixed 64 KiB input buffer on page 1; 0 when the input does not fit
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.const 0x0001000000010000))
  ;; reply: ptr 128, len 72
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (i64.const 0x0000008000000048))
)
