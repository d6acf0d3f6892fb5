;; busy_start.wat: a module whose start function never returns. The start
;; section runs during instantiation, before the host can set a budget, so it
;; is bounded by MeterOptions.StartFuel.
(module
  (func $start (loop $l (br $l)))
  (start $start)
)
