;; input_formats_future: imhook_input_formats returns 6, bits of formats a
;; later host may define but not abi.InputWire. Expect JSON input: the guest
;; echoes its body, and fails with "wire" if WireFlag is set.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeAddFriendCommand")
  (data (i32.const 64) "wire")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 30))
  (func (export "imhook_input_formats") (result i32) (i32.const 6))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 65536)))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (if (i32.and (local.get $cmdLen) (i32.const 0x80000000))
      (then (return (i64.or (i64.const 0x8000000000000000)
                            (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 4))))))
    (i64.or
      (i64.shl (i64.extend_i32_u (i32.add (i32.const 65536) (local.get $cmdLen))) (i64.const 32))
      (i64.extend_i32_u (local.get $bodyLen))))
)
