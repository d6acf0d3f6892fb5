;; wasi_flood: calls one WASI function in a loop, the cheapest way a guest
;; makes the host work. The body picks the function (its first byte) and the
;; number of calls (the decimal digits after it; none means forever):
;;
;;   p  poll_oneoff with 40000 zero-timeout clock subscriptions
;;   o  poll_oneoff with one zero-timeout clock subscription
;;   s  poll_oneoff with one 1 s clock subscription (a sleep)
;;   y  sched_yield
;;   r  fd_read of stdin (fd 0) into one 64-byte iovec
;;   f  fd_prestat_get of fd 3
;;   g  random_get of a 1 MiB buffer
;;   w  fd_write to stdout of 1024 empty iovecs
;;   W  fd_write to stdout of 100000 empty iovecs
;;   e  fd_write to stderr of one 64-byte iovec
;;   c  clock_time_get of the monotonic clock
;;
;; Forever, expect KindCPUTime: each call is billed to the instruction budget
;; (p and W are refused with EINVAL at once, billed too), and the wall-clock
;; backstop is checked. With a count, the reply is one byte, the last errno
;; plus '0' (so "0" is success), for tests and benchmarks.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; 80 pages (5 MiB):
  ;;   0        the command list
  ;;   256      scratch: results (nevents, nread, nwritten, prestat, time), one iovec
  ;;   1024     the input buffer (60000 bytes)
  ;;   65536    subscriptions (48 bytes each, all zero: relative clock, timeout 0)
  ;;            or iovecs (8 bytes each, all zero: empty), 2 MiB
  ;;   2162688  events (32 bytes each), 1.25 MiB
  ;;   4194304  the random buffer, 1 MiB
  (memory (export "memory") 80)
  (data (i32.const 0) "callbackAfterGroupMsgReadCommand")
  (func (export "imhook_abi_version") (result i32) (i32.const 1))
  (func (export "imhook_commands") (result i64) (i64.const 32))
  (func (export "imhook_buffer") (param $n i32) (result i64)
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 60000)))

  ;; one makes one call of the function named by op and returns its errno.
  (func $one (param $op i32) (result i32)
    (if (i32.eq (local.get $op) (i32.const 112)) ;; p
      (then (return (call $poll_oneoff (i32.const 65536) (i32.const 2162688) (i32.const 40000) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 111)) ;; o
      (then
        (i64.store (i32.const 65560) (i64.const 0)) ;; timeout 0
        (return (call $poll_oneoff (i32.const 65536) (i32.const 2162688) (i32.const 1) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 115)) ;; s
      (then
        (i64.store (i32.const 65560) (i64.const 1000000000)) ;; timeout 1 s
        (local.set $op (call $poll_oneoff (i32.const 65536) (i32.const 2162688) (i32.const 1) (i32.const 256)))
        (i64.store (i32.const 65560) (i64.const 0))
        (return (local.get $op))))
    (if (i32.eq (local.get $op) (i32.const 121)) ;; y
      (then (return (call $sched_yield))))
    (if (i32.eq (local.get $op) (i32.const 114)) ;; r
      (then
        (i32.store (i32.const 264) (i32.const 512))
        (i32.store (i32.const 268) (i32.const 64))
        (return (call $fd_read (i32.const 0) (i32.const 264) (i32.const 1) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 102)) ;; f
      (then (return (call $fd_prestat_get (i32.const 3) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 103)) ;; g
      (then (return (call $random_get (i32.const 4194304) (i32.const 1048576)))))
    (if (i32.eq (local.get $op) (i32.const 119)) ;; w
      (then (return (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 1024) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 87)) ;; W
      (then (return (call $fd_write (i32.const 1) (i32.const 65536) (i32.const 100000) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 101)) ;; e
      (then
        (i32.store (i32.const 264) (i32.const 512))
        (i32.store (i32.const 268) (i32.const 64))
        (return (call $fd_write (i32.const 2) (i32.const 264) (i32.const 1) (i32.const 256)))))
    (if (i32.eq (local.get $op) (i32.const 99)) ;; c
      (then (return (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 256)))))
    (unreachable))

  (func (export "imhook_handle") (param $cmdLen i32) (param $bodyLen i32) (result i64)
    (local $body i32) (local $end i32) (local $p i32) (local $n i64) (local $errno i32)
    (local.set $body (i32.add (i32.const 1024) (local.get $cmdLen)))
    (local.set $end (i32.add (local.get $body) (local.get $bodyLen)))
    ;; The count: the digits after the op, or -1 (forever).
    (local.set $n (i64.const -1))
    (local.set $p (i32.add (local.get $body) (i32.const 1)))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (local.set $n (i64.const 0))
        (loop $digits
          (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10))
            (i64.extend_i32_u (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br_if $digits (i32.lt_u (local.get $p) (local.get $end))))))
    (block $done
      (loop $calls
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $errno (call $one (i32.load8_u (local.get $body))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $calls)))
    ;; The reply: the last errno + '0', one byte at 300.
    (i32.store8 (i32.const 300) (i32.add (local.get $errno) (i32.const 48)))
    (i64.or (i64.shl (i64.const 300) (i64.const 32)) (i64.const 1)))
)
