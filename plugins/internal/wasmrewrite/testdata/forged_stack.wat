;; forged_stack: an invalid module (it has no global) that writes global 1 in
;; a loop. Metering appends the fuel (0) and the call stack budget (1), which
;; would make the module valid and let it refill its own stack budget: Meter
;; must refuse it. Built with wat2wasm --no-check (the module is invalid on
;; purpose).
(module
  (func (export "spin") (result i32)
    (loop $l
      (global.set 1 (i32.const 0x7fffffff))
      (br $l))
    (i32.const 0)))
