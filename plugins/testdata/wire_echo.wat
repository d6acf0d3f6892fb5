;; wire_echo: a guest that accepts the wire format (imhook_input_formats returns
;; 1) and proves what it was sent: with WireFlag set in command_len it replies
;; with the body unchanged (the wire bytes); without it, it fails with the
;; error message "json".
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeAddFriendCommand")
  (data (i32.const 64) "json")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 30))
  (func (export "imhook_input_formats") (result i32) (i32.const 1))
  ;; A fixed 65536-byte input buffer at address 65536.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 65536)))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (if (i32.eqz (i32.and (local.get $cmdLen) (i32.const 0x80000000)))
      (then (return (i64.or (i64.const 0x8000000000000000)
                            (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 4))))))
    (i64.or
      (i64.shl (i64.extend_i32_u
                 (i32.add (i32.const 65536) (i32.and (local.get $cmdLen) (i32.const 0x7fffffff))))
               (i64.const 32))
      (i64.extend_i32_u (local.get $bodyLen))))
)
