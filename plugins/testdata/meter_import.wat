;; meter_import: a module that imports from imhook_meter, the module name the
;; host reserves for the refuel import it adds when metering. It cannot be
;; metered, and is refused at load.
(module
  (import "imhook_meter" "refuel" (func $refuel))
  (memory (export "memory") 1)
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 0))
  (func (export "imhook_buffer") (param i32) (result i64) (i64.const 0))
  (func (export "imhook_handle") (param i32 i32) (result i64) (call $refuel) (i64.const 0))
)
