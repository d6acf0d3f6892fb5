;; init_scatter: a hostile _initialize for pre-initialisation. It grows memory
;; as far as the cap allows, then writes a non-zero byte every 100 bytes of it,
;; so that what it changed is as scattered and as large as it can be. Expect a
;; snapshot no larger than the memory cap, in at most preinit.MaxSpans ranges;
;; imhook_handle replies with the byte at the offset given as its body's
;; length, to show that a copy holds what _initialize wrote.
(module
  (memory (export "memory") 1)
  (global $seen (mut i32) (i32.const 0))
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  ;; Replies with 1 byte at 64: the count of calls on this instance, plus the
  ;; byte _initialize wrote at 65600 (a '7') minus '0'.
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (global.set $seen (i32.add (global.get $seen) (i32.const 1)))
    (i32.store8 (i32.const 64)
      (i32.add (i32.const 48)
        (i32.add (global.get $seen) (i32.sub (i32.load8_u (i32.const 65600)) (i32.const 55)))))
    (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 1)))
  (func (export "_initialize")
    (local $p i32) (local $end i32)
    (loop $grow
      (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (local.set $p (i32.const 65600))
    (loop $write
      (i32.store8 (local.get $p) (i32.const 55))
      (local.set $p (i32.add (local.get $p) (i32.const 100)))
      (br_if $write (i32.lt_u (local.get $p) (local.get $end)))))
)
