;; raw_result: returns the first 8 bytes of the body (little-endian) as its
;; imhook_handle result, so a fuzzer can make it return any packed value:
;; pointers anywhere, lengths of any size, the error bit. Bodies shorter than
;; 8 bytes return 0. Used by FuzzGuestMemoryRead: the host must never panic,
;; only answer a reply, nothing, or a typed error.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (if (i32.lt_u (local.get $bodyLen) (i32.const 8)) (then (return (i64.const 0))))
    (i64.load (i32.add (i32.const 1024) (local.get $cmdLen))))
)
