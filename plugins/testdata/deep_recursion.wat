;; deep_recursion: imhook_handle computes a naive fib(90), recursive and
;; exponential: it never finishes in practice. Expect KindCPUTime (the
;; instruction budget), not a stack overflow: the recursion is only 90 deep.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  ;; A fixed 60000-byte input buffer at address 1024.
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))
  (func $fib (param $n i64) (result i64)
    (if (result i64) (i64.lt_u (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else (i64.add (call $fib (i64.sub (local.get $n) (i64.const 1)))
                     (call $fib (i64.sub (local.get $n) (i64.const 2)))))))
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (drop (call $fib (i64.const 90)))
    (i64.const 0))
)
