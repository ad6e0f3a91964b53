#' Replicate a training run and average its traces
#'
#' Runs `fun(rep, ...)` for `rep = 1, ..., reps` through [future.apply::future_lapply()],
#' so the replications run sequentially by default and in parallel under any
#' [future::plan()] the caller has set (multisession, cluster, ...). Random numbers
#' come from parallel-safe L'Ecuyer-CMRG streams (`future.seed = TRUE`), so the
#' result is reproducible with [set.seed()] and does not depend on the plan. Progress
#' is signalled through \pkg{progressr}: wrap the call in
#' [progressr::with_progress()] (or set `progressr::handlers(global = TRUE)`) to see
#' it.
#'
#' Each call must return a fit with a `trace` data frame (an [adv_lm()] fit, for
#' example) or such a data frame itself. The traces are stacked with a `rep` column,
#' and every numeric column is summarised per iteration by its mean and standard
#' deviation over the replications that reached that iteration.
#'
#' @param fun A function whose first argument is the replication number.
#' @param reps Number of replications, a whole number.
#' @param ... Further arguments passed to `fun`.
#' @param keep If `TRUE`, keep what `fun` returned in `results`.
#' @return An object of class `adv_replicate`: a list with `traces` (the stacked
#'   traces), `summary` (one row per iteration: `iter`, `n` (the number of
#'   replications), and `<column>_mean`, `<column>_sd` for each numeric column),
#'   `R_star` (when the fits know it), `reps` and, if `keep`, `results`. Its `plot()`
#'   method draws the means with bands of plus and minus one standard deviation (the
#'   picture of the paper's Figure 3); `as.data.frame()` returns `summary`.
#' @seealso [adv_lm()].
#' @examples
#' one_run <- function(rep, n = 20, d = 200) {
#'   sim <- simulate_linear(n, c(rep(1, 10), rep(0, d - 10)))
#'   adv_lm(sim$x, sim$y, eps = 0.1, xi = 0.5, eta = 0.001, iters = 100,
#'          truth = sim, trace_every = 5)
#' }
#' set.seed(1)
#' res <- adv_replicate(one_run, reps = 3)
#' tail(as.data.frame(res)[, c("iter", "loss_surrogate_mean", "risk_adv_mean")], 2)
#' plot(res)
#' @export
adv_replicate <- function(fun, reps, ..., keep = FALSE) {
  if (!is.function(fun)) {
    abort_arg("{.arg fun} must be a function, not {describe(fun)}.", "fun",
              rlang::current_env())
  }
  # future.seed draws one RNG stream per replication up front: an absurd count would
  # spend minutes there before the first replication
  reps <- check_count(reps, min = 1, max = 1e6)
  keep <- check_flag(keep)
  p <- progressr::progressor(steps = reps)
  results <- future.apply::future_lapply(seq_len(reps), function(rep, ...) {
    out <- fun(rep, ...)
    p()
    out
  }, ..., future.seed = TRUE)
  traces <- lapply(seq_len(reps), function(i) replicate_trace(results[[i]], i))
  stacked <- do.call(rbind, traces)
  rownames(stacked) <- NULL
  r_star <- unique(unlist(lapply(results, function(r) {
    if (is.list(r) && !is.data.frame(r) && !is.null(r$R_star)) r$R_star
  })))
  out <- list(traces = stacked, summary = replicate_summary(stacked),
              R_star = if (length(r_star) == 1 && !is.na(r_star)) r_star else NA_real_,
              reps = reps)
  if (keep) out$results <- results
  structure(out, class = "adv_replicate")
}

replicate_trace <- function(res, i) {
  tr <- if (is.data.frame(res)) res else if (is.list(res)) res$trace
  if (!is.data.frame(tr) || is.null(tr$iter)) {
    cli::cli_abort("{.arg fun} must return a fit with a {.field trace} data frame (or such a data frame); replication {i} returned {describe(res)}.",
                   class = "advtrain_error_argument", call = rlang::caller_env(2))
  }
  cbind(rep = i, tr)
}

replicate_summary <- function(stacked) {
  cols <- setdiff(names(stacked)[vapply(stacked, is.numeric, logical(1))],
                  c("rep", "iter"))
  by_iter <- split(stacked, stacked$iter)
  rows <- lapply(by_iter, function(b) {
    stats <- unlist(lapply(cols, function(cl) {
      v <- b[[cl]]
      stats::setNames(c(mean(v), if (length(v) > 1) stats::sd(v) else NA_real_),
                      paste0(cl, c("_mean", "_sd")))
    }))
    data.frame(iter = b$iter[1], n = nrow(b), t(stats))
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out[order(out$iter), ]
}

#' @export
as.data.frame.adv_replicate <- function(x, ...) x$summary

#' @export
print.adv_replicate <- function(x, ...) {
  s <- x$summary
  last <- s[nrow(s), ]
  cat(sprintf("%d replications, traces up to step %d\n", x$reps, max(s$iter)))
  show <- intersect(c("loss_surrogate", "loss_adv", "loss_std", "risk_adv", "risk_std"),
                    sub("_mean$", "", grep("_mean$", names(s), value = TRUE)))
  for (cl in show) {
    m <- last[[paste0(cl, "_mean")]]
    if (is.na(m)) next
    cat(sprintf("  %-15s %s (sd %s) at step %d\n", cl, format(m, digits = 4),
                format(last[[paste0(cl, "_sd")]], digits = 3), last$iter))
  }
  if (!is.na(x$R_star)) cat(sprintf("  R*(eps) = %s\n", format(x$R_star, digits = 4)))
  invisible(x)
}

#' @export
plot.adv_replicate <- function(x, which = NULL, ...) {
  s <- x$summary
  avail <- sub("_mean$", "", grep("_mean$", names(s), value = TRUE))
  if (is.null(which)) {
    which <- intersect(c("loss_surrogate", "risk_adv"), avail)
    which <- which[vapply(which, function(w) any(!is.na(s[[paste0(w, "_mean")]])),
                          logical(1))]
  }
  if (!length(which) || !all(which %in% avail)) {
    abort_arg("{.arg which} must name columns of the traces: {.val {avail}}.", "which",
              rlang::current_env())
  }
  old <- graphics::par(mfrow = c(1, length(which)))
  on.exit(graphics::par(old))
  for (w in which) {
    m <- s[[paste0(w, "_mean")]]
    sdv <- s[[paste0(w, "_sd")]]
    sdv[is.na(sdv)] <- 0
    lo <- m - sdv
    hi <- m + sdv
    extra <- if (grepl("^risk", w) && !is.na(x$R_star)) x$R_star
    graphics::plot(s$iter, m, type = "n", ylim = range(c(lo, hi, extra), na.rm = TRUE),
                   xlab = "iteration", ylab = w,
                   main = sprintf("%s (mean +/- sd, %d reps)", w, x$reps), ...)
    graphics::polygon(c(s$iter, rev(s$iter)), c(lo, rev(hi)), border = NA,
                      col = grDevices::adjustcolor("steelblue", 0.3))
    graphics::lines(s$iter, m, lwd = 1.5)
    if (!is.null(extra)) graphics::abline(h = extra, lty = 2, col = "grey30")
  }
  invisible(x)
}
