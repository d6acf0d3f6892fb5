;; corpus.wat: control flow the meter must preserve. Every export is called
;; by the tests on the original and the metered module, and the results must
;; match. Covers loops, recursion, br_table, call_indirect, if/else, branches
;; out of nested blocks, multi-value blocks, return, and bulk memory.
(module
  (type $binop (func (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (table 3 funcref)
  (elem (i32.const 0) $add $mul $sub)
  (global $counter (mut i32) (i32.const 0))
  (data (i32.const 16) "hello, metering")

  ;; Straight-line code: 4 instructions including end.
  (func (export "straight") (result i32)
    i32.const 1
    i32.const 2
    i32.add)

  ;; sum of 0..n-1 with a counting loop.
  (func (export "sum") (param $n i64) (result i64)
    (local $i i64) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $next)))
    (local.get $acc))

  ;; Naive recursive Fibonacci.
  (func $fib (export "fib") (param $n i32) (result i64)
    (if (result i64) (i32.lt_s (local.get $n) (i32.const 2))
      (then (i64.extend_i32_s (local.get $n)))
      (else (i64.add
        (call $fib (i32.sub (local.get $n) (i32.const 1)))
        (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; br_table dispatch with a default.
  (func (export "dispatch") (param $x i32) (result i32)
    (block $d
      (block $c
        (block $b
          (block $a
            (br_table $a $b $c $d (local.get $x)))
          (return (i32.const 100)))
        (return (i32.const 200)))
      (return (i32.const 300)))
    (i32.const 400))

  (func $add (type $binop) (i64.add (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i64.mul (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i64.sub (local.get 0) (local.get 1)))

  ;; Fold the table's operations over 1..n: call_indirect in a loop.
  (func (export "fold") (param $op i32) (param $n i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 1))
    (loop $l
      (local.set $acc (call_indirect (type $binop)
        (local.get $acc) (local.get $n) (local.get $op)))
      (local.tee $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (i64.const 0)))
      ;; fallthrough when n <= 0
      )
    (local.get $acc))

  ;; Collatz steps: a loop with if/else inside and a global side effect.
  (func (export "collatz") (param $n i64) (result i32)
    (local $steps i32)
    (block $out
      (loop $l
        (br_if $out (i64.le_u (local.get $n) (i64.const 1)))
        (if (i64.eqz (i64.rem_u (local.get $n) (i64.const 2)))
          (then (local.set $n (i64.div_u (local.get $n) (i64.const 2))))
          (else (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 3)) (i64.const 1)))))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
        (br $l)))
    (local.get $steps))

  ;; Multi-value block with parameters, and a loop with a parameter.
  (func (export "swapsub") (param i32 i32) (result i32)
    (local.get 0) (local.get 1)
    (block (param i32 i32) (result i32 i32)
      (local.set 0) (local.set 1)
      (local.get 0) (local.get 1))
    i32.sub)
  (func (export "countdown") (param $n i32) (result i32)
    local.get $n
    (loop $l (param i32) (result i32)
      i32.const 1
      i32.sub
      local.tee $n
      local.get $n
      i32.const 0
      i32.gt_s
      br_if $l))

  ;; Early return from deep inside nested loops.
  (func (export "find") (param $target i32) (result i32)
    (local $i i32) (local $j i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (if (i32.eq (i32.mul (local.get $i) (local.get $j)) (local.get $target))
          (then (return (i32.add (i32.mul (local.get $i) (i32.const 1000)) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (i32.const 50))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (i32.const 50))))
    (i32.const -1))

  ;; Bulk memory: fill, copy, then checksum the bytes.
  (func (export "bulk") (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (memory.fill (i32.const 1024) (i32.const 7) (local.get $n))
    (memory.copy (i32.const 4096) (i32.const 16) (i32.const 15))
    (memory.copy (i32.add (i32.const 4111) (i32.const 0)) (i32.const 1024) (local.get $n))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.add (local.get $n) (i32.const 15))))
        (local.set $s (i32.add (local.get $s) (i32.load8_u offset=4096 (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $s))

  ;; memory.grow returns the old size; memory.size the new one.
  (func (export "grow") (param $pages i32) (result i32)
    (i32.add (i32.mul (memory.grow (local.get $pages)) (i32.const 1000)) (memory.size)))

  ;; Sign extension, saturating truncation and select.
  (func (export "mixed") (param $x i32) (result i64)
    (i64.add
      (i64.extend8_s (i64.extend_i32_u (local.get $x)))
      (select
        (i64.trunc_sat_f64_s (f64.const 1e300))
        (i64.const 5)
        (local.get $x))))

  (func (export "counter") (result i32) (global.get $counter))
)
