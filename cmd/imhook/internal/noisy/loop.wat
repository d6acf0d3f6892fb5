;; loop: the noisy neighbour of imhook bench --neighbour, scenario (b). It
;; declares the before-send commands the noisy tenant's load sends, and loops
;; forever in imhook_handle without reading its input: every call burns its
;; whole instruction budget and ends in cpu_time. Raw ABI (docs/abi.md), JSON
;; input. Rebuild loop.wasm with go generate ./cmd/imhook/internal/noisy.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackBeforeSendSingleMsgCommand,callbackBeforeSendGroupMsgCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 68))
  ;; The input buffer is page 1, grown on demand (as cmd/imhook/internal/baseline/noop.wat).
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (local $cap i32)
    (local.set $cap (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 65536)))
    (if (i32.gt_u (local.get $n) (local.get $cap))
      (then
        (if (i32.eq
              (memory.grow (i32.shr_u (i32.add (i32.sub (local.get $n) (local.get $cap)) (i32.const 65535)) (i32.const 16)))
              (i32.const -1))
          (then (return (i64.const 0))))
        (local.set $cap (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 65536)))))
    (i64.or (i64.shl (i64.const 65536) (i64.const 32)) (i64.extend_i32_u (local.get $cap))))
  (func (export "imhook_handle") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const 0))
)
