;; command: what `go build` without -buildmode=c-shared makes, in small: a WASI
;; command that exports _start and no _initialize, whose exports trap until
;; _start has run (Go's runtime.notInitialized). Expect a *LoadError saying to
;; build with -buildmode=c-shared.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func $notInitialized unreachable)
  (func (export "_start"))
  (func (export "imhook_abi_version") (result i32) (call $notInitialized) (i32.const 1))
  (func (export "imhook_commands") (result i64) (call $notInitialized) (i64.const 32))
  (func (export "imhook_buffer") (param $n i32) (result i64) (call $notInitialized) (i64.const 0))
  (func (export "imhook_handle") (param i32 i32) (result i64) (call $notInitialized) (i64.const 0))
)
