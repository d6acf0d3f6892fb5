;; passive.wat: active segments to merge, interleaved with passive segments
;; that code copies with memory.init and drops with data.drop. Merging must
;; renumber those indices; the calls must behave exactly as before, traps
;; included.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "ab")
  (data $p1 "PASSIVE-ONE")
  (data (i32.const 2) "cd")
  (data $p2 "two")
  (data (i32.const 100) "far")

  ;; Sum of the bytes the active segments wrote.
  (func (export "sum") (result i32)
    (local $i i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (i32.load8_u (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 104))))
    (local.get $s))
  (func (export "init1") (result i32)
    (memory.init $p1 (i32.const 200) (i32.const 0) (i32.const 11))
    (i32.load8_u (i32.const 208)))
  (func (export "init2") (result i32)
    (memory.init $p2 (i32.const 300) (i32.const 1) (i32.const 2))
    (i32.load16_u (i32.const 300)))
  (func (export "drop2") (data.drop $p2))
  ;; Active segment 2 ("cd") is dropped after instantiation: a zero-length
  ;; init from offset 0 succeeds, a longer one traps.
  (func (export "init_active") (param $n i32) (result i32)
    (memory.init 2 (i32.const 400) (i32.const 0) (local.get $n))
    (i32.const 1))
  (func (export "drop_active") (data.drop 0))
)
