;; stack.wat: functions that leave their frame every way wasm allows, for the
;; call stack budget (StackGlobal). Each export recurses n deep and returns
;; n; after it returns, the budget must be what it was before. (Tail calls,
;; which wat2wasm accepts only with a flag, are built by stack_test.go.)
(module
  (memory (export "memory") 1)
  ;; Falls through its end.
  (func $fall (export "fall") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (call $fall (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))))
  ;; return.
  (func $ret (export "ret") (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0))))
    (return (i32.add (call $ret (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))))
  ;; br to the function's label, from inside an if and at the top.
  (func $br (export "br") (param $n i32) (result i32)
    (if (i32.eqz (local.get $n)) (then (br 1 (i32.const 0))))
    (br 0 (i32.add (call $br (i32.sub (local.get $n) (i32.const 1))) (i32.const 1))))
  ;; br_if to the function's label.
  (func $brif (export "brif") (param $n i32) (result i32)
    (drop (br_if 0 (i32.const 0) (i32.eqz (local.get $n))))
    (i32.add (call $brif (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
  ;; br_table to the function's label; counts in memory[0].
  (func $brtable (export "brtable") (param $n i32) (result i32)
    (call $brtable_rec (local.get $n))
    (i32.load (i32.const 0)))
  (func $brtable_rec (param $n i32)
    (block $rec
      (br_table 1 $rec (local.get $n)))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (call $brtable_rec (i32.sub (local.get $n) (i32.const 1))))
  ;; Two results: the wrapping block gets a type () -> (i32 i32).
  (func $multi (export "multi") (param $n i32) (result i32)
    (call $multi_rec (local.get $n))
    (drop))
  (func $multi_rec (param $n i32) (result i32 i32)
    (if (i32.eqz (local.get $n)) (then (return (i32.const 0) (i32.const 0))))
    (call $multi_rec (i32.sub (local.get $n) (i32.const 1)))
    (drop)
    (i32.add (i32.const 1))
    (i32.const 0))
  ;; Without end.
  (func $down (export "down") (param $n i32) (result i32)
    (i32.add (call $down (i32.add (local.get $n) (i32.const 1))) (i32.const 1)))
)
