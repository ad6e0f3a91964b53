# Observation weights (issue 19), shared by adv_lm() and adv_lasso() / cv_adv_lasso().
# The weighted objective is sum_i w_i loss_i / sum_i w_i: integer weights are the same
# as replicating rows, zero weights the same as dropping them, and only the ratios of
# the weights matter. The attack is per sample and does not depend on the weight.

# NULL (no weights, or all weights equal: then the fit is exactly the unweighted one)
# or the checked double vector of length n: finite, non-negative, not all zero.
check_weights <- function(weights, n, arg = rlang::caller_arg(weights),
                          call = rlang::caller_env()) {
  force(arg)
  if (is.null(weights)) return(NULL)
  w <- check_numeric(weights, min = 0, what = "a non-negative numeric vector",
                     arg = arg, call = call)
  if (length(w) != n) {
    abort_arg("{.arg {arg}} must have one weight per observation ({n}), not {length(w)}.",
              arg, call)
  }
  if (!any(w > 0)) {
    abort_arg("{.arg {arg}} must have at least one positive weight; all {n} are zero.",
              arg, call)
  }
  names(w) <- NULL
  if (all(w == w[1])) return(NULL)
  w
}

# Weights scaled to mean 1 (the C kernels divide the weighted sums by n).
weights_unit <- function(w) w / mean(w)
