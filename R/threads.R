the <- new.env(parent = emptyenv())

#' Number of threads used by advtrain
#'
#' `adv_threads()` reports the number of OpenMP threads that advtrain's C code uses;
#' `adv_threads(n)` sets it and invisibly returns the previous value. Every function
#' with a `threads` argument uses this value when `threads = NULL`.
#'
#' The default is taken, in this order, from the option `advtrain.threads`, the
#' environment variable `ADVTRAIN_THREADS`, and otherwise 2 (a modest default that
#' leaves cores free). It never exceeds the number of processors or
#' `OMP_THREAD_LIMIT`. The package never changes OpenMP's global setting
#' (`omp_set_num_threads()`); each parallel region asks for its own count. Results do
#' not depend on the thread count. Without OpenMP support the count is always 1.
#'
#' @param n A whole number of threads, at least 1.
#' @return `adv_threads()` returns the current count; `adv_threads(n)` returns the
#'   previous count invisibly.
#' @examples
#' old <- adv_threads(1)
#' adv_threads()
#' adv_threads(old)
#' @export
adv_threads <- function(n) {
  old <- cap_threads(if (is.null(the$threads)) default_threads() else the$threads)
  if (missing(n)) return(old)
  the$threads <- check_count(n, min = 1)
  invisible(old)
}

default_threads <- function() {
  opt <- getOption("advtrain.threads")
  if (!is.null(opt)) return(check_count(opt, arg = "options(advtrain.threads)"))
  env <- Sys.getenv("ADVTRAIN_THREADS")
  if (nzchar(env)) {
    v <- suppressWarnings(as.numeric(env))
    return(check_count(v, arg = "ADVTRAIN_THREADS"))
  }
  2L
}

cap_threads <- function(n) {
  info <- .Call(C_threads_info)
  if (info[1] == 0L) return(1L)
  limit <- suppressWarnings(as.integer(Sys.getenv("OMP_THREAD_LIMIT")))
  cap <- min(info[2], info[3], if (is.na(limit) || limit < 1) Inf else limit)
  as.integer(max(1, min(n, cap)))
}

# The thread count for one call: `threads = NULL` means adv_threads().
resolve_threads <- function(threads, call = rlang::caller_env()) {
  if (is.null(threads)) return(adv_threads())
  cap_threads(check_count(threads, min = 1, call = call))
}
