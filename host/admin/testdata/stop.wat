;; stop: a guest that blocks every single-chat message. It logs "checked" at
;; info level and replies with a stop reply (errCode 5001, errMsg "blocked").
;; Admin API tests upload it as a valid plugin and dry-run it.
(module
  (import "imhook" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (data (i32.const 64) "checked")
  (data (i32.const 128) "{\"actionCode\":0,\"errCode\":5001,\"errMsg\":\"blocked\",\"errDlt\":\"\",\"nextCode\":1}")

  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  ;; ptr 0, len 34
  (func (export "imhook_commands") (result i64) (i64.const 34))
  ;; A fixed 64 KiB input buffer on page 1; 0 when the input does not fit.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.const 0x0001000000010000))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (call $log (i32.const 0) (i32.const 64) (i32.const 7))
    ;; ptr 128, len 75
    (i64.const 0x000000800000004b))
)
