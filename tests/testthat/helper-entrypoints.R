# Arguments for one small call of each registered .Call entry point, keyed by its
# registered name, already in the form the R wrappers hand to C. Used by
# test-entrypoints.R (plain, and under gctorture when ADVTRAIN_GCTORTURE=true) and by the
# valgrind subset in CI. A new entry point must be added here: a test checks that every
# registered routine is covered.
entry_args <- function() {
  S <- matrix(c(2, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 1), 3)
  x <- matrix(c(1, -2, 0.5, 3, 1, -1), 3)
  list(
    risk_surrogate = list(c(0.5, -0.2), 1.7, c(0, 0.3), 2L, 0.1),
    optimum_l2 = list(S, c(1, 0.5, 0), 1, c(0, 0.2, 2)),
    optimum_linf = list(S, c(1, 0.5, 0), 1, c(0, 0.2, 2)),
    linear_attack = list(c(0.5, -1), x, c(1, 0, 2), 0.2, 2L, 0.3),
    linear_loss = list(c(0.5, -1), x, c(1, 0, 2), 0.2, 1L, 0.3, TRUE),
    threads_info = list()
  )
}

call_entry <- function(name, args) {
  sym <- get(paste0("C_", name), envir = asNamespace("advtrain"))
  do.call(.Call, c(list(sym), args))
}
