;; fail_after: fail.wat for an after-command: its handler returns an error
;; message ("db down", error bit set). OpenIM ignores after-replies, so the
;; host answers the neutral reply whatever the tenant's failure policy.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (data (i32.const 64) "db down")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.const 0x0001000000010000))
  ;; 1<<63 | 64<<32 | 7
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (i64.const 0x8000004000000007))
)
