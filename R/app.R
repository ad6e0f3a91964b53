#' An interactive teaching app
#'
#' Launches a Shiny app (shipped in `inst/app/`) with four tabs, each drawing a
#' picture of the paper live from the package's own functions:
#' * **Trade-off** (Proposition 1, eqs. 5 and 9): \eqn{R^*(\epsilon)} against the
#'   standard risk of \eqn{\theta^*(\epsilon)}, and the coefficient paths of
#'   \eqn{\theta^*(\epsilon)} with \eqn{\epsilon_c} marked, for an AR(1)
#'   \eqn{\Sigma}, chosen \eqn{d}, \eqn{\sigma^2} and norm ([adv_optimum()]);
#' * **Training** (Algorithm 1, Theorem 2, Figure 1): the surrogate and true training
#'   losses of [adv_lm()] step by step, and the population risk against \eqn{R^*};
#' * **Interpolation** (Theorem 5, Figure 3): with \eqn{n < d} the training loss falls
#'   to zero while the population risk stays near \eqn{v^2};
#' * **Your data**: a CSV upload or a built-in data set, a chosen response, fits of
#'   [adv_lm()] (exact) or [adv_lasso()] over a grid of \eqn{\epsilon}, coefficient
#'   paths, and a download of R code that reproduces them.
#'
#' Every computation is small (at most a few hundred gradient steps on a few hundred
#' rows) and cached by its inputs, so a plot responds within a second.
#'
#' @param port The TCP port, or `NULL` for a random free one.
#' @param host The address to listen on; `"127.0.0.1"` serves this machine only.
#' @param launch.browser Open a browser? Passed to [shiny::runApp()].
#' @return Called for its side effect (runs until the app is stopped); returns what
#'   [shiny::runApp()] returns, invisibly.
#' @seealso `vignette("teaching", package = "advtrain")` for a lab plan, and the
#'   tutorials in `system.file("tutorials", package = "advtrain")`, run with
#'   `learnr::run_tutorial("adversarial-risk", package = "advtrain")`.
#' @examples
#' if (interactive() && requireNamespace("shiny", quietly = TRUE)) {
#'   adv_app()
#' }
#' @export
adv_app <- function(port = NULL, host = "127.0.0.1", launch.browser = interactive()) {
  if (!requireNamespace("shiny", quietly = TRUE)) {
    cli::cli_abort(c("{.fn adv_app} needs the {.pkg shiny} package, which is not installed.",
                     i = "Install it with {.code install.packages(\"shiny\")} (Debian: {.code apt-get install r-cran-shiny})."))
  }
  if (!is.null(port)) port <- check_count(port, max = 65535)
  if (!is.character(host) || length(host) != 1 || is.na(host) || !nzchar(host)) {
    abort_arg("{.arg host} must be one address such as {.val 127.0.0.1}, not {describe(host)}.",
              "host", rlang::current_env())
  }
  dir <- system.file("app", package = "advtrain")
  if (!nzchar(dir)) cli::cli_abort("The app directory of {.pkg advtrain} is missing; reinstall the package.")
  invisible(shiny::runApp(dir, port = port, host = host, launch.browser = launch.browser))
}

# ---- computations behind the app (internal; timed in tests/testthat/test-app.R) ----

ar1_sigma <- function(d, rho) rho^abs(outer(seq_len(d), seq_len(d), "-"))

# theta0 of the trade-off tab: decaying coefficients, so the Linf path drops them in turn
app_theta0 <- function(d) round(2 * 0.7^(seq_len(d) - 1), 3)

app_tradeoff <- function(d = 5, rho = 0.5, sigma2 = 1, norm = "l2", eps_max = 3,
                         m = if (norm == "linf") 31 else 61) {
  theta0 <- app_theta0(d)
  Sigma <- ar1_sigma(d, rho)
  notes <- character()
  o <- withCallingHandlers(
    adv_optimum(theta0, seq(0, eps_max, length.out = m), Sigma, sigma2, norm),
    warning = function(w) {
      notes <<- c(notes, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  o$notes <- notes # shown by the app instead of a console warning
  o
}

app_training <- function(eps = 0.5, xi = 0.1, eta = 0.01, n = 200, iters = 300,
                         norm = "l2", d = 5, seed = 1) {
  theta0 <- rep(1, d)
  sim <- withr::with_seed(seed, simulate_linear(n, theta0))
  fit <- adv_lm(sim$x, sim$y, eps = eps, norm = norm, xi = xi, eta = eta, iters = iters,
                truth = sim)
  list(fit = fit, trace = fit$trace, R_star = fit$R_star, v2 = sum(theta0^2) + 1)
}

app_interpolation <- function(n = 20, d = 400, eps = 0.1, xi = 0.5, eta = 0.001,
                              iters = 1000, seed = 1) {
  theta0 <- c(rep(1, min(10, d)), rep(0, max(0, d - 10)))
  sim <- withr::with_seed(seed, simulate_linear(n, theta0))
  fit <- adv_lm(sim$x, sim$y, eps = eps, xi = xi, eta = eta, iters = iters, truth = sim,
                trace_every = 10)
  list(fit = fit, trace = fit$trace, v2 = sum(theta0^2) + 1)
}

# Reads an uploaded CSV into a data frame with at least two numeric columns and three
# complete rows, or returns a one-string error message (never throws).
app_read_csv <- function(path) {
  df <- tryCatch(utils::read.csv(path, check.names = TRUE, stringsAsFactors = FALSE),
                 error = function(e) conditionMessage(e),
                 warning = function(w) conditionMessage(w))
  if (is.character(df)) return(paste("The file could not be read as CSV:", df))
  app_check_data(df)
}

app_check_data <- function(df) {
  if (!is.data.frame(df) || !nrow(df)) return("The data have no rows.")
  num <- vapply(df, function(v) is.numeric(v) && any(is.finite(v)), logical(1))
  if (sum(num) < 2) {
    return(sprintf("The data need at least two numeric columns (a response and a predictor); found %d.",
                   sum(num)))
  }
  df <- df[num]
  df <- df[stats::complete.cases(df) & apply(as.matrix(df), 1, function(r) all(is.finite(r))), ,
           drop = FALSE]
  if (nrow(df) < 3) return("The data have fewer than three complete numeric rows.")
  df
}

# Fits over a grid of eps on standardised predictors; returns the coefficient matrix
# (predictors x eps) and the in-sample adversarial loss of each fit.
app_fit_data <- function(df, response, method = "adv_lm", norm = "l2", eps_max = 1,
                         m = 11) {
  y <- df[[response]]
  x <- scale(as.matrix(df[setdiff(names(df), response)]))
  keep <- is.finite(colSums(x))
  x <- x[, keep, drop = FALSE]
  if (!ncol(x)) stop("no predictor with non-zero variance")
  eps <- seq(0, eps_max, length.out = m)
  coefs <- vapply(eps, function(e) {
    if (method == "adv_lm") {
      stats::coef(adv_lm(x, y, eps = e, norm = norm, intercept = TRUE, method = "exact"))[-1]
    } else {
      f <- suppressWarnings(adv_lasso(x, y, eps = e, norm = norm, nlambda = 20))
      as.numeric(f$beta[, ceiling(length(f$lambda) / 2)])
    }
  }, numeric(ncol(x)))
  coefs <- matrix(coefs, ncol(x), dimnames = list(colnames(x), signif(eps, 3)))
  list(eps = eps, coef = coefs)
}

app_code <- function(source, response, method, norm, eps_max) {
  read <- if (identical(source, "upload")) {
    'df <- read.csv("your-file.csv")  # the uploaded file'
  } else {
    sprintf("df <- datasets::%s", source)
  }
  fit <- if (method == "adv_lm") {
    sprintf('coef(adv_lm(x, y, eps = e, norm = "%s", intercept = TRUE, method = "exact"))[-1]', norm)
  } else {
    sprintf('{ f <- adv_lasso(x, y, eps = e, norm = "%s", nlambda = 20)\n    as.numeric(f$beta[, ceiling(length(f$lambda) / 2)]) }', norm)
  }
  paste0(
    "# Reproduces the \"Your data\" tab of advtrain::adv_app()\n",
    "library(advtrain)\n", read, "\n",
    "df <- df[vapply(df, is.numeric, logical(1))]\n",
    "df <- df[complete.cases(df), ]\n",
    sprintf('y <- df[["%s"]]\n', response),
    sprintf('x <- scale(as.matrix(df[setdiff(names(df), "%s")]))\n', response),
    sprintf("eps <- seq(0, %s, length.out = 11)\n", format(eps_max)),
    "coefs <- sapply(eps, function(e)\n  ", fit, ")\n",
    "rownames(coefs) <- colnames(x)\n",
    "matplot(eps, t(coefs), type = \"l\", lty = 1, xlab = \"eps\", ylab = \"coefficient\")\n",
    "legend(\"topright\", rownames(coefs), col = 1:6, lty = 1, bty = \"n\")\n")
}
