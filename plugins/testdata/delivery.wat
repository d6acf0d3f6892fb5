;; delivery: calls the queued-delivery host functions as its body's first
;; byte says, and replies with what they returned:
;;   'd': delivery(1024, 64); reply: the i32 result (4 bytes LE), then the
;;        bytes written
;;   's': delivery(1024, 2), then take_result(1024, 64); reply as 'd', with
;;        take_result's result
;;   'r': retry(250); reply: the i32 result; '!' after it: fail (error reply)
;;   'n': retry(-1); reply: the i32 result
;;   'x': delivery with a buffer outside memory (the guest is stopped)
(module
  (import "imhook" "delivery" (func $delivery (param i32 i32) (result i32)))
  (import "imhook" "retry" (func $retry (param i64) (result i32)))
  (import "imhook" "take_result" (func $take (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (data (i32.const 512) "asked for a retry")

  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 65536)))

  ;; reply returns a pointer to [1020, 1020+4+n): the result r, then n bytes.
  (func $reply (param $r i32) (param $n i32) (result i64)
    (i32.store (i32.const 1020) (local.get $r))
    (i64.or (i64.shl (i64.const 1020) (i64.const 32)) (i64.extend_i32_u (i32.add (i32.const 4) (local.get $n)))))

  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (local $op i32) (local $r i32)
    (local.set $op (i32.load8_u (i32.add (i32.const 65536) (local.get $cmdLen))))
    (if (i32.eq (local.get $op) (i32.const 100)) ;; 'd'
      (then
        (local.set $r (call $delivery (i32.const 1024) (i32.const 64)))
        (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (call $reply (local.get $r) (i32.const 0)))))
        (return (call $reply (local.get $r) (local.get $r)))))
    (if (i32.eq (local.get $op) (i32.const 115)) ;; 's'
      (then
        (local.set $r (call $delivery (i32.const 1024) (i32.const 2)))
        (local.set $r (call $take (i32.const 1024) (i32.const 64)))
        (if (i32.lt_s (local.get $r) (i32.const 0)) (then (return (call $reply (local.get $r) (i32.const 0)))))
        (return (call $reply (local.get $r) (local.get $r)))))
    (if (i32.eq (local.get $op) (i32.const 114)) ;; 'r'
      (then
        (local.set $r (call $retry (i64.const 250)))
        (if (i32.gt_u (local.get $bodyLen) (i32.const 1))
          (then (return (i64.or (i64.const 0x8000000000000000) (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 17))))))
        (return (call $reply (local.get $r) (i32.const 0)))))
    (if (i32.eq (local.get $op) (i32.const 110)) ;; 'n'
      (then (return (call $reply (call $retry (i64.const -1)) (i32.const 0)))))
    (drop (call $delivery (i32.const 0xFFFFFFF0) (i32.const 64)))
    (i64.const 0))
)
