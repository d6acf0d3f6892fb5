;; noop: the plugin that costs the least a plugin can cost. It declares the
;; commands examples/trivial handles, so the same callbacks enter the sandbox,
;; and answers each with no reply (0: imhook sends the neutral reply) without
;; reading its input. Variant (h) of imhook bench --compare runs it to show
;; the host's own cost per callback: routing, parsing, the sandbox call and
;; the reply, with no guest work at all. Raw ABI (docs/abi.md), no SDK, JSON
;; input. Rebuild noop.wasm with go generate ./cmd/imhook/internal/baseline.
(module
  (memory (export "memory") 2)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand,callbackBeforeSendSingleMsgCommand,callbackBeforeSendGroupMsgCommand,callbackBeforeAddFriendCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 132))
  ;; The input buffer is page 1, grown on demand.
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
  (func (export "imhook_handle") (param i32 i32) (result i64) (i64.const 0))
)
