;; hostcall.wat: a guest that calls a host function in an endless loop, each
;; call cheap in guest instructions. Host functions charge the fuel for their
;; own work (Fuel.Charge), so the budget bounds time spent in the host too.
(module
  (import "env" "work" (func $work))
  (func (export "loop_calls")
    (loop $l (call $work) (br $l)))
)
