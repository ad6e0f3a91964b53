# TEMPORARY stand-ins for helpers that adv_lm (branch lm) provides in R/methods.R and
# R/lm.R; removed when that branch is merged.

trace_df <- function(x) {
  tr <- x$trace
  rownames(tr) <- NULL
  tr
}

trace_print <- function(trace, digits = 4) {
  last <- trace[nrow(trace), ]
  cat(sprintf("Training losses at step %d: surrogate %s, adversarial %s, standard %s\n",
              last$iter, format(last$loss_surrogate, digits = digits),
              format(last$loss_adv, digits = digits),
              format(last$loss_std, digits = digits)))
  if (!is.null(last$risk_adv) && !is.na(last$risk_adv)) {
    cat(sprintf("Population risks: adversarial %s, standard %s\n",
                format(last$risk_adv, digits = digits),
                format(last$risk_std, digits = digits)))
  }
  invisible(trace)
}

trace_plot <- function(trace, R_star = NA, main = NULL, log = "", ...) {
  losses <- c("loss_surrogate", "loss_adv", "loss_std")
  graphics::matplot(trace$iter, as.matrix(trace[losses]), type = "l", lty = 1)
  invisible(trace)
}

attack_label <- function(norm) if (norm == "l2") "L2" else "L-infinity"

lm_progress <- function(bar, started, done, total) NULL

lm_step <- function(xt, a) {
  lam <- max(eigen(crossprod(t(xt)) / ncol(xt), only.values = TRUE)$values)
  eps2 <- if (a$norm == "l2") a$eps else a$eps * sqrt(nrow(xt))
  list(eta = 1 / (2 * (sqrt(lam) + eps2)^2), lambda_max = lam)
}
