;; busy_init.wat: a reactor whose _initialize never returns. With metering,
;; instantiating it (wazero runs _initialize via WithStartFunctions) stops at
;; the module's start budget.
(module
  (memory (export "memory") 1)
  (func (export "_initialize")
    (loop $l (br $l)))
  (func (export "answer") (result i32) (i32.const 42))
)
