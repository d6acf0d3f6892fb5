;; stack_bomb: recursion without end, each frame keeping 16 values live across
;; its call, so that the call stack, which the host allocates outside linear
;; memory, is what runs out first, not the instruction budget. Expect
;; KindMemory, "call stack exhausted", long before the stack costs the host
;; more than a few MiB. A body starting with 'm' first grows linear memory to
;; the cap and writes every page, so that the instance holds all the memory
;; it may.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func $deep (param $x i64) (result i64)
    (i64.add (local.get $x) (i64.const 1))
    (i64.add (local.get $x) (i64.const 2))
    (i64.add (local.get $x) (i64.const 3))
    (i64.add (local.get $x) (i64.const 4))
    (i64.add (local.get $x) (i64.const 5))
    (i64.add (local.get $x) (i64.const 6))
    (i64.add (local.get $x) (i64.const 7))
    (i64.add (local.get $x) (i64.const 8))
    (i64.add (local.get $x) (i64.const 9))
    (i64.add (local.get $x) (i64.const 10))
    (i64.add (local.get $x) (i64.const 11))
    (i64.add (local.get $x) (i64.const 12))
    (i64.add (local.get $x) (i64.const 13))
    (i64.add (local.get $x) (i64.const 14))
    (i64.add (local.get $x) (i64.const 15))
    (i64.add (local.get $x) (i64.const 16))
    (call $deep (i64.add (local.get $x) (i64.const 1)))
    i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add
    i64.add i64.add i64.add i64.add i64.add i64.add i64.add i64.add)
  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (if (i32.eq (i32.load8_u (i32.add (i32.const 1024) (local.get $cmdLen))) (i32.const 109)) ;; 'm'
      (then
        (loop $grow
          (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
        (memory.fill (i32.const 65536) (i32.const 1)
          (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 65536)))))
    (drop (call $deep (i64.const 0)))
    (i64.const 0))
)
