# Argument checks shared by every entry point. Each check returns the value coerced to
# what C expects (double, integer, matrix) or signals a classed error that names the
# argument and what was given.

abort_arg <- function(msg, arg, call, .envir = parent.frame()) {
  # format once with cli, then signal through rlang: cli_abort() would format lazily
  # at several times the cost, which matters for code that catches many errors.
  formatted <- vapply(msg, cli::format_inline, character(1), .envir = .envir,
                      USE.NAMES = FALSE)
  names(formatted) <- names(msg)
  rlang::abort(formatted, call = call, class = "advtrain_error_argument")
}

# A short description of a value, for messages: "-1", "NA", "a character vector", ...
describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (is.function(x)) return("a function")
  if (is.data.frame(x)) return(sprintf("a data frame with %d columns", ncol(x)))
  if (is.factor(x)) return("a factor")
  if (is.list(x)) return("a list")
  if (is.matrix(x)) {
    return(sprintf("a %d x %d %s matrix", nrow(x), ncol(x), typeof(x)))
  }
  if (is.atomic(x) && length(x) == 0) return(sprintf("an empty %s vector", typeof(x)))
  if (is.complex(x)) return("a complex number")
  if (is.atomic(x) && length(x) == 1) {
    if (is.character(x)) return(sprintf("the string \"%s\"", x))
    if (is.na(x) && !is.nan(x)) return("NA")
    return(format(x))
  }
  if (is.atomic(x)) {
    bad <- if (is.numeric(x)) which(!is.finite(x)) else integer()
    if (length(bad)) {
      return(sprintf("a vector with %s at position %d", format(x[bad[1]]), bad[1]))
    }
    return(sprintf("a %s vector of length %d", typeof(x), length(x)))
  }
  paste("an object of class", class(x)[1])
}

# The position of the first NA, NaN or infinite element of a numeric vector or matrix
# (0 if none), without allocating (is.finite() would copy a whole data matrix).
first_nonfinite <- function(x) .Call(C_check_finite, x)

is_plain_numeric <- function(x) {
  (is.double(x) || is.integer(x)) && !is.factor(x) && !is.object(x)
}

# A numeric vector (or matrix, viewed as vector): finite unless allowed, optionally of
# a given length and bounded below.
check_numeric <- function(x, len = NULL, min = -Inf, what = "a numeric vector",
                          arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  if (!is_plain_numeric(x) || length(x) == 0) {
    abort_arg("{.arg {arg}} must be {what}, not {describe(x)}.", arg, call)
  }
  if (first_nonfinite(x) > 0) {
    abort_arg("{.arg {arg}} must contain only finite values, not {describe(as.vector(x))}.",
              arg, call)
  }
  if (!is.null(len) && length(x) != len) {
    abort_arg("{.arg {arg}} must have length {len}, not {length(x)}.", arg, call)
  }
  if (any(x < min)) {
    pos <- which(x < min)[1]
    abort_arg("{.arg {arg}} must be {what}; element {pos} is {format(x[pos])}.", arg, call)
  }
  nm <- names(x)
  x <- as.double(x) # drops dim: a 1 x d matrix is read as a vector
  names(x) <- nm
  x
}

# One finite number in [min, max]; strict excludes min itself.
check_number <- function(x, min = -Inf, max = Inf, strict = FALSE,
                         arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  what <- if (min == 0 && strict) "a positive number"
          else if (min == 0) "a non-negative number" else "a number"
  if (!is_plain_numeric(x) || length(x) != 1 || is.na(x) || !is.finite(x) ||
      x < min || x > max || (strict && x == min)) {
    if (is.finite(max) && is_plain_numeric(x) && length(x) == 1 && isTRUE(x > max)) {
      abort_arg("{.arg {arg}} must be {what} no larger than {max}, not {describe(x)}.",
                arg, call)
    }
    abort_arg("{.arg {arg}} must be {what}, not {describe(x)}.", arg, call)
  }
  as.double(x)
}

# A whole number >= min, returned as integer.
check_count <- function(x, min = 1, max = .Machine$integer.max,
                        arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  if (!is_plain_numeric(x) || length(x) != 1 || is.na(x) || !is.finite(x) ||
      x != round(x) || x < min) {
    abort_arg("{.arg {arg}} must be a whole number of at least {min}, not {describe(x)}.",
              arg, call)
  }
  if (x > max) {
    abort_arg("{.arg {arg}} must be at most {format(max, scientific = FALSE)}, not {format(x, scientific = FALSE)}.",
              arg, call)
  }
  as.integer(x)
}

check_flag <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    abort_arg("{.arg {arg}} must be TRUE or FALSE, not {describe(x)}.", arg, call)
  }
  x
}

# match.arg() with a message naming the argument; the first choice is the default.
check_choice <- function(x, choices, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  force(arg)
  if (identical(x, choices)) return(choices[1])
  if (!is.character(x) || length(x) != 1 || is.na(x) || !(x %in% choices)) {
    abort_arg(c("{.arg {arg}} must be one of {.val {choices}}, not {describe(x)}."),
              arg, call)
  }
  x
}

# A numeric matrix (a data frame of numeric columns is accepted), finite, of given
# dimensions; returned as a double matrix.
check_matrix <- function(x, nrow = NULL, ncol = NULL, min_rows = 1,
                         arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  force(arg)
  if (is.data.frame(x)) {
    num <- vapply(x, is_plain_numeric, logical(1))
    if (!all(num)) {
      abort_arg("{.arg {arg}} must have numeric columns only; column {.val {names(x)[!num][1]}} is not.",
                arg, call)
    }
    x <- as.matrix(x)
  }
  if (is.null(dim(x)) && is_plain_numeric(x) && !is.null(ncol) && ncol == 1) {
    x <- matrix(x, ncol = 1)
  }
  if (!is.matrix(x) || !(is.double(x) || is.integer(x)) || is.object(x)) {
    abort_arg("{.arg {arg}} must be a numeric matrix, not {describe(x)}.", arg, call)
  }
  if (nrow(x) < min_rows || ncol(x) < 1) {
    abort_arg("{.arg {arg}} must have at least {min_rows} row{?s} and one column, not {nrow(x)} x {ncol(x)}.",
              arg, call)
  }
  pos <- first_nonfinite(x)
  if (pos > 0) {
    abort_arg("{.arg {arg}} must contain only finite values; entry [{(pos - 1) %% nrow(x) + 1}, {(pos - 1) %/% nrow(x) + 1}] is {format(x[pos])}.",
              arg, call)
  }
  if (!is.null(nrow) && nrow(x) != nrow) {
    abort_arg("{.arg {arg}} must have {nrow} row{?s}, not {nrow(x)}.", arg, call)
  }
  if (!is.null(ncol) && ncol(x) != ncol) {
    abort_arg("{.arg {arg}} must have {ncol} column{?s}, not {ncol(x)}.", arg, call)
  }
  storage.mode(x) <- "double"
  x
}

# A d x d symmetric positive-definite covariance matrix. NULL means the identity and
# stays NULL (no d x d matrix is made for it): use sigma_times() and sigma_full().
check_sigma <- function(Sigma, d, arg = rlang::caller_arg(Sigma),
                        call = rlang::caller_env()) {
  force(arg)
  if (is.null(Sigma)) return(NULL)
  if (is_plain_numeric(Sigma) && is.null(dim(Sigma)) && d == 1 && length(Sigma) == 1) {
    Sigma <- matrix(Sigma, 1, 1)
  }
  Sigma <- check_matrix(Sigma, arg = arg, call = call)
  if (nrow(Sigma) != d || ncol(Sigma) != d) {
    abort_arg("{.arg {arg}} must be a {d} x {d} matrix to match {.arg theta0}, not {nrow(Sigma)} x {ncol(Sigma)}.",
              arg, call)
  }
  tol <- 100 * .Machine$double.eps * max(1, max(abs(Sigma)))
  if (max(abs(Sigma - t(Sigma))) > tol) {
    abort_arg("{.arg {arg}} must be symmetric; its largest asymmetry is {signif(max(abs(Sigma - t(Sigma))), 3)}.",
              arg, call)
  }
  if (inherits(try(chol(Sigma), silent = TRUE), "try-error")) {
    abort_arg("{.arg {arg}} must be positive definite; it is not.", arg, call)
  }
  dimnames(Sigma) <- NULL
  (Sigma + t(Sigma)) / 2
}

# The list(theta0, Sigma, sigma2) of a data-generating model, or a simulate_linear()
# result; returns the checked list (Sigma NULL for the identity).
check_truth <- function(truth, d = NULL, arg = rlang::caller_arg(truth),
                        call = rlang::caller_env()) {
  force(arg)
  if (inherits(truth, "advtrain_sim")) truth <- truth$truth
  if (!is.list(truth) || is.null(truth$theta0)) {
    abort_arg("{.arg {arg}} must be a {.fn simulate_linear} result or {.code list(theta0, Sigma, sigma2)}, not {describe(truth)}.",
              arg, call)
  }
  theta0 <- check_numeric(truth$theta0, len = d, arg = paste0(arg, "$theta0"), call = call)
  sigma2 <- if (is.null(truth$sigma2)) 1 else truth$sigma2
  sigma2 <- check_number(sigma2, min = 0, arg = paste0(arg, "$sigma2"), call = call)
  Sigma <- check_sigma(truth$Sigma, length(theta0), arg = paste0(arg, "$Sigma"), call = call)
  list(theta0 = theta0, Sigma = Sigma, sigma2 = sigma2)
}

# Sigma %*% v for a checked Sigma (NULL is the identity).
sigma_times <- function(Sigma, v) {
  if (is.null(Sigma)) v else drop(Sigma %*% v)
}

# The d x d matrix of a checked Sigma.
sigma_full <- function(Sigma, d) {
  if (is.null(Sigma)) diag(d) else Sigma
}

# A training run keeps one trace row per recorded step: refuse runs whose trace alone
# would take gigabytes, before any work is done.
check_trace_size <- function(iters, trace_every, call = rlang::caller_env()) {
  rows <- floor(iters / trace_every) + 2
  bytes <- rows * 10 * 8
  if (bytes > 2^31) {
    abort_arg("With {.arg iters} = {format(iters, big.mark = ',')} and {.arg trace_every} = {trace_every} the trace would hold {format(rows, big.mark = ',')} rows ({round(bytes / 2^30, 1)} GB); record less often (a larger {.arg trace_every}).",
              "trace_every", call)
  }
  invisible(rows)
}
