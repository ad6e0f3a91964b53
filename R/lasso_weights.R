# Observation weights in adv_lasso() and cv_adv_lasso() (issue 19): the loss is
# sum_i w_i loss_i / sum_i w_i, as in adv_lm() (R/weights.R). Each solver takes them
# in the form that keeps it exact:
# * eps = 0 (coordinate descent): the weighted least-squares problem after weighted
#   centring is the unweighted one on rows scaled by sqrt(w_i) (any weights);
# * eps > 0, xi > 0 (FISTA): the C loss multiplies each row's surrogate loss and its
#   gradient by w_i (any weights);
# * eps > 0, xi = 0 (the active-set method, whose Newton systems and kink bookkeeping
#   are per row): weights whose ratios are whole numbers are rows replicated that many
#   times, which is the same objective exactly. Other weights are an error there.

# The whole-number multiplicities k_i (k proportional to w, the smallest common scale
# with at most lasso_rep_max_den() as denominator), or NULL when there is none.
lasso_weight_reps <- function(w) {
  pos <- w[w > 0]
  u <- w / min(pos)
  for (m in seq_len(lasso_rep_max_den())) {
    k <- u * m
    rk <- round(k)
    if (all(abs(k - rk) <= 1e-9 * pmax(k, 1))) return(as.integer(rk))
  }
  NULL
}

lasso_rep_max_den <- function() 1000L

# The replicated rows a weighted true-attack fit may use (multiples of n and of the
# n x d design): beyond them the copy is refused rather than made.
lasso_rep_check <- function(w, n, d, eps, xi, call) {
  if (is.null(w) || !(eps > 0 && xi == 0)) return(NULL)
  k <- lasso_weight_reps(w)
  if (is.null(k)) {
    frac <- which.max(abs(w / min(w[w > 0]) - round(w / min(w[w > 0]))))
    abort_arg(c(paste0("{.arg weights} must be proportional to whole numbers for the ",
                       "true-attack lasso ({.code eps > 0}, {.code xi = 0}); element ",
                       "{frac} is {format(w[frac], digits = 7)}, {format(w[frac] / min(w[w > 0]), digits = 7)} ",
                       "times the smallest positive weight."),
                "i" = paste0("Its solver replicates rows; use {.code xi > 0} (the smoothed ",
                             "attack) or {.code eps = 0} for arbitrary weights, or round the weights.")),
              "weights", call)
  }
  tot <- sum(as.double(k))
  if (tot > max(50 * n, 1e5) || tot * d > 5e7) {
    abort_arg(c(paste0("{.arg weights} would replicate the {n} rows into {format(tot, big.mark = ',', scientific = FALSE)} ",
                       "for the true-attack lasso ({.code eps > 0}, {.code xi = 0}); at most ",
                       "{format(max(50 * n, 1e5), big.mark = ',', scientific = FALSE)} rows (and 5e7 entries of x) are allowed."),
                "i" = "Use weights with smaller whole-number ratios, or {.code xi > 0} (the smoothed attack)."),
              "weights", call)
  }
  k
}

# lasso_prepare() with weights, for the rows `rows` (all when NULL): weighted means,
# weighted standard deviations (divisor sum(w)), and wu, the weights of mean 1.
lasso_prepare_w <- function(a, rows = NULL) {
  x <- if (is.null(rows)) a$x else a$x[rows, , drop = FALSE]
  y <- if (is.null(rows)) a$y else a$y[rows]
  w <- if (is.null(rows)) a$weights else a$weights[rows]
  n <- nrow(x)
  d <- ncol(x)
  wu <- w / mean(w)
  storage.mode(x) <- "double"
  xm <- drop(crossprod(wu, x)) / n
  xc <- sweep(x, 2, xm)
  sd_n <- sqrt(pmax(drop(crossprod(wu, xc^2)) / n, 0))
  rms <- sqrt(drop(crossprod(wu, x^2)) / n)
  if (!a$intercept) {
    xm <- rep(0, d)
    xc <- x
  }
  ym <- if (a$intercept) sum(wu * y) / n else 0
  yc <- y - ym
  sy <- sqrt(sum(wu * yc^2) / n)
  if (!(sy > 0)) sy <- 1
  dimnames(xc) <- NULL
  c(list(xc = xc, yc = yc, xm = xm, ym = ym, sy = sy, rw = wu),
    lasso_columns(a, sd_n, rms))
}

# Per-row attacked squared loss of one coefficient vector on (x, y): the worst case
# (|r| + eps ||theta||_*)^2 for the true attack (also at r = 0), the surrogate attack's
# loss for xi > 0, the clean loss for eps = 0.
lasso_row_loss <- function(theta, b, x, y, eps, norm, xi) {
  r <- y - b - drop(x %*% theta)
  if (eps == 0) return(r^2)
  if (xi == 0) return((abs(r) + eps * attack_norm(theta, norm))^2)
  att <- .Call(C_linear_attack, as.double(theta), x, as.double(y - b), eps,
               norm_code(norm), xi)
  (r - drop(att %*% theta))^2
}
