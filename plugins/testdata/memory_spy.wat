;; memory_spy: one tenant's guest writes a secret over its memory, another's
;; looks for it (TestMemoryPoolIsolation: a closed instance's memory, kept by
;; the engine's pool for new instances, must reach the next one cleared).
;;
;; Body "w": grow memory to 64 pages and fill pages 2 to 63 with 0xA5.
;; Body "r": grow memory to 64 pages and trap if any byte of pages 2 to 63
;; is not zero. Either replies neutral (returns 0).
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 34))
  ;; The input buffer is page 1.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (if (i32.gt_u (local.get $n) (i32.const 65536)) (then (return (i64.const 0))))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.const 65536)))
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (local $p i32)
    (if (i32.lt_u (memory.size) (i32.const 64))
      (then (drop (memory.grow (i32.sub (i32.const 64) (memory.size))))))
    (if (i32.eq (i32.load8_u (i32.add (i32.const 65536) (local.get $cmdLen))) (i32.const 119)) ;; 'w'
      (then
        (memory.fill (i32.const 131072) (i32.const 0xA5) (i32.const 4063232))
        (return (i64.const 0))))
    (local.set $p (i32.const 131072))
    (loop $scan
      (if (i64.ne (i64.load (local.get $p)) (i64.const 0)) (then unreachable))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br_if $scan (i32.lt_u (local.get $p) (i32.const 4194304))))
    (i64.const 0))
)
