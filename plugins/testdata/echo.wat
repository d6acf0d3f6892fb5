;; echo: the smallest complete imhook ABI v1 guest, and the example of docs/abi.md.
;;
;; It handles two commands and replies with the request body unchanged, except:
;;   - an empty body: returns 0, so the host sends the neutral reply;
;;   - a body starting with '!': returns the rest of the body as an error
;;     message (error bit set), so the host applies the failure policy;
;;   - a body starting with '#': logs the body at warn level, then echoes it.
;;
;; Memory: page 0 holds the command list; the input buffer is everything from
;; page 1 (address 65536) to the end of memory, grown on demand.
(module
  (import "imhook" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand,callbackBeforeSendSingleMsgCommand")

  (func (export "imhook_abi_version") (result i32) (i32.const 1))

  ;; Pointer 0, length 67: (0 << 32) | 67.
  (func (export "imhook_commands") (result i64) (i64.const 67))

  ;; Returns (65536 << 32) | capacity, growing memory until capacity >= n; 0 if it cannot.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (local $cap i32)
    (local.set $cap (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 65536)))
    (if (i32.gt_u (local.get $n) (local.get $cap))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $n) (local.get $cap)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then (return (i64.const 0))))
        (local.set $cap (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 65536)))))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.extend_i32_u (local.get $cap))))

  ;; The buffer holds cmdLen bytes of command, then bodyLen bytes of body.
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (local $body i32)
    (if (i32.eqz (local.get $bodyLen)) (then (return (i64.const 0))))
    (local.set $body (i32.add (i32.const 65536) (local.get $cmdLen)))
    (if (i32.eq (i32.load8_u (local.get $body)) (i32.const 33)) ;; '!'
      (then (return
        (i64.or (i64.const 0x8000000000000000)
          (i64.or (i64.shl (i64.extend_i32_u (i32.add (local.get $body) (i32.const 1))) (i64.const 32))
                  (i64.extend_i32_u (i32.sub (local.get $bodyLen) (i32.const 1))))))))
    (if (i32.eq (i32.load8_u (local.get $body)) (i32.const 35)) ;; '#'
      (then (call $log (i32.const 4) (local.get $body) (local.get $bodyLen))))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $body)) (i64.const 32))
            (i64.extend_i32_u (local.get $bodyLen))))
)
