;; forged_fuel: an invalid module (global 0 does not exist) that writes global 0
;; in a loop. Metering appends the fuel global as index 0, which would make the
;; module valid and let it refill its own budget forever: Meter must refuse it.
;; Built with wat2wasm --no-check (the module is invalid on purpose).
(module
  (func (export "spin") (result i32)
    (loop $l
      (global.set 0 (i64.const 0x7fffffffffffffff))
      (br $l))
    (i32.const 0)))
