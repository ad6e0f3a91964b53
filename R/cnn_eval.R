# Small CNNs and MLPs: prediction, attacks on a fitted network, evaluation and the
# print/summary/plot methods of the fit. The C kernels in cnn_*.c compute.

# ---- prediction, attacks, evaluation -----------------------------------------------

fit_theta <- function(fit) flatten_weights(fit$weights)
fit_plan <- function(fit) {
  cnn_plan(fit$spec, fit$input, precision = if (is.null(fit$settings$precision)) "double" else fit$settings$precision)
}

check_fit <- function(fit, call = rlang::caller_env()) {
  if (!inherits(fit, "advtrain_cnn")) {
    abort_arg("{.arg fit} must be a model from {.fn adv_cnn}, not {describe(fit)}.",
              "fit", call)
  }
  fit
}

softmax_cols <- function(z) {
  z <- sweep(z, 2, apply(z, 2, max))
  e <- exp(z)
  sweep(e, 2, colSums(e), "/")
}

#' Predictions of a fitted CNN or MLP
#'
#' @param object A fit from [adv_cnn()].
#' @param newdata Images in the layout used for training.
#' @param type `"class"` (a factor), `"prob"` (an n x classes matrix of softmax
#'   probabilities) or `"link"` (the raw network outputs). For a regression head
#'   `"class"` and `"prob"` give the fitted values.
#' @param threads Number of threads; `NULL` means [adv_threads()].
#' @param ... Unused.
#' @return See `type`.
#' @examples
#' d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
#' fit <- adv_cnn(d$train$x[1:200, , ], d$train$y[1:200], mlp_spec(32, 2),
#'                attack = "none", epochs = 2, seed = 1)
#' table(predict(fit, d$test$x[1:100, , ]), d$test$y[1:100])
#' @export
predict.advtrain_cnn <- function(object, newdata, type = c("class", "prob", "link"),
                                 threads = NULL, ...) {
  type <- check_choice(type, c("class", "prob", "link"))
  px <- prepare_x(newdata, object$input, arg = "newdata")
  z <- cnn_forward(object, px$x, resolve_threads(threads))
  if (type == "link" || object$loss == 2L) {
    out <- t(z)
    return(if (object$loss == 2L) drop(out) else out)
  }
  p <- t(softmax_cols(z))
  colnames(p) <- object$levels
  if (type == "prob") return(p)
  factor(object$levels[max.col(p, ties.method = "first")], levels = object$levels)
}

cnn_forward <- function(fit, xm, nth) {
  plan <- fit_plan(fit)
  .Call(C_cnn_forward, plan$arch, plan$beta, fit_theta(fit), xm, nth)
}

# Random starts drawn in R (din x n): uniform in the L-inf box / in the L2 ball.
random_start_r <- function(din, n, eps, norm) {
  if (norm == "linf") return(matrix(stats::runif(din * n, -eps, eps), din, n))
  z <- matrix(stats::rnorm(din * n), din, n)
  r <- eps * stats::runif(n)^(1 / din) / sqrt(colSums(z^2))
  sweep(z, 2, r, "*")
}

# PGD/FGSM on columns of xm with the fit's weights; returns din x n attacked inputs.
attack_raw <- function(theta, plan, loss, xm, y, eps, norm, steps, alpha, xi, start,
                       clip, nth) {
  clip2 <- if (is.null(clip)) c(0, 0) else clip
  .Call(C_cnn_attack, plan$arch, plan$beta, theta, xm, y, start,
        c(eps, alpha, xi, clip2),
        as.integer(c(loss, norm_code(norm), steps, !is.null(clip))), nth)
}

evaluate_raw <- function(theta, plan, s, xm, y, eps, norm, steps, alpha, restarts, nth,
                         random_start = TRUE) {
  pred <- function(xx) {
    z <- .Call(C_cnn_forward, plan$arch, plan$beta, theta, xx, nth)
    if (s$loss == 1L) max.col(t(z), ties.method = "first") - 1 else drop(z)
  }
  score <- function(p) if (s$loss == 1L) p == y else -(p - y)^2
  clean <- score(pred(xm))
  robust <- clean
  if (eps > 0) {
    for (r in seq_len(restarts)) {
      start <- if (random_start) random_start_r(nrow(xm), ncol(xm), eps, norm) else NULL
      xa <- attack_raw(theta, plan, s$loss, xm, y, eps, norm, steps, alpha, 0, start,
                       s$clip, nth)
      sa <- score(pred(xa))
      robust <- if (s$loss == 1L) robust & sa else pmin(robust, sa)
    }
  }
  if (s$loss == 1L) {
    list(clean_accuracy = mean(clean), adversarial_accuracy = mean(robust))
  } else {
    list(clean_mse = mean(-clean), adversarial_mse = mean(-robust))
  }
}

#' Clean and adversarial accuracy of a fitted network
#'
#' `evaluate()` computes the clean accuracy and the accuracy under the true
#' (\eqn{\xi = 0}) PGD-k attack; an image counts as robust only if it is classified
#' correctly under every one of `restarts` random starts. For a regression head the
#' clean and worst-case mean squared errors are reported instead.
#'
#' `attack_difference()` is the statistic of the paper's Figure 8: two PGD attacks
#' from different random starts are run on each image and the mean L2 distance
#' between the two perturbations is reported, also divided by \eqn{\epsilon}. A large
#' value signals that the attack is unstable (the adversarial loss is far from
#' differentiable).
#'
#' @param fit A fit from [adv_cnn()].
#' @param x,y Images and labels.
#' @param eps,norm Attack strength and norm (default: those of the training run).
#' @param steps Number of PGD steps (default: as in training, at least 1).
#' @param restarts Number of random restarts.
#' @param step_size Step size; `NULL` means \eqn{2\epsilon/k}.
#' @param random_start Start from a random point of the ball?
#' @param threads Number of threads; `NULL` means [adv_threads()].
#' @return `evaluate()`: a one-row data frame with `clean_accuracy` and
#'   `adversarial_accuracy` (or `clean_mse`, `adversarial_mse`), `eps`, `norm`, `steps`
#'   and `restarts`. `attack_difference()`: a one-row data frame with `difference`
#'   and `relative_difference`.
#' @examples
#' d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
#' fit <- adv_cnn(d$train$x[1:200, , ], d$train$y[1:200], mlp_spec(32, 2),
#'                attack = "none", epochs = 2, seed = 1)
#' evaluate(fit, d$test$x[1:100, , ], d$test$y[1:100], eps = 1, norm = "l2", steps = 5)
#' attack_difference(fit, d$test$x[1:100, , ], d$test$y[1:100], eps = 1, norm = "l2")
#' @export
evaluate <- function(fit, x, y, eps = NULL, norm = NULL, steps = NULL, restarts = 1,
                     step_size = NULL, random_start = TRUE, threads = NULL) {
  a <- check_eval_args(fit, x, y, eps, norm, steps, step_size)
  restarts <- check_count(restarts)
  random_start <- check_flag(random_start)
  ev <- evaluate_raw(fit_theta(fit), a$plan, a$s, a$x, a$y, a$eps, a$norm, a$steps,
                     a$alpha, restarts, resolve_threads(threads), random_start)
  data.frame(ev, eps = a$eps, norm = a$norm, steps = a$steps, restarts = restarts)
}

#' @rdname evaluate
#' @export
attack_difference <- function(fit, x, y, eps = NULL, norm = NULL, steps = 5,
                              step_size = NULL, threads = NULL) {
  a <- check_eval_args(fit, x, y, eps, norm, steps, step_size)
  nth <- resolve_threads(threads)
  one <- function() {
    start <- random_start_r(nrow(a$x), ncol(a$x), a$eps, a$norm)
    attack_raw(fit_theta(fit), a$plan, a$s$loss, a$x, a$y, a$eps, a$norm, a$steps,
               a$alpha, 0, start, a$s$clip, nth)
  }
  d <- mean(sqrt(colSums((one() - one())^2)))
  data.frame(difference = d, relative_difference = if (a$eps > 0) d / a$eps else NA_real_,
             eps = a$eps, norm = a$norm, steps = a$steps)
}

check_eval_args <- function(fit, x, y, eps, norm, steps, step_size,
                            call = rlang::caller_env()) {
  check_fit(fit, call)
  st <- fit$settings
  px <- prepare_x(x, fit$input, call = call)
  py <- prepare_y(y, px$n, if (fit$loss == 2L) 1L else length(fit$levels), fit$levels,
                  call = call)
  eps <- if (is.null(eps)) st$eps else check_number(eps, min = 0, call = call)
  norm <- if (is.null(norm)) st$norm else check_choice(norm, c("linf", "l2"), call = call)
  steps <- if (is.null(steps)) max(st$steps, 1L) else check_count(steps, max = 1000, call = call)
  alpha <- if (is.null(step_size)) 2 * eps / steps
           else check_number(step_size, min = 0, strict = TRUE, call = call)
  list(plan = fit_plan(fit), s = list(loss = fit$loss, clip = st$clip), x = px$x,
       y = py$y, eps = eps, norm = norm, steps = steps, alpha = alpha)
}

# ---- methods ------------------------------------------------------------------------

#' @export
print.advtrain_cnn <- function(x, ...) {
  st <- x$settings
  cat("<adv_cnn>", paste(vapply(x$spec$layers, layer_label, ""), collapse = " - "),
      "\n")
  cat(sprintf("input %s, %d parameters, %s\n", paste(x$input, collapse = " x "),
              length(fit_theta(x)),
              if (x$loss == 1L) paste(length(x$levels), "classes") else "squared loss"))
  att <- if (st$attack == "none" || st$eps == 0) "standard training"
         else sprintf("%s %s eps = %g%s, xi = %g", toupper(st$attack), st$norm, st$eps,
                      if (st$attack == "pgd") sprintf(", %d steps", st$steps) else "",
                      st$xi)
  prec <- if (is.null(st$precision)) "double" else st$precision
  cat(sprintf("%s, lambda = %g, %d epochs, %s precision\n", att, st$lambda,
              nrow(x$history), prec))
  h <- x$history[nrow(x$history), ]
  cat(sprintf("last epoch: loss %.4f, train accuracy %.3f\n", h$loss, h$train_accuracy))
  invisible(x)
}

#' @export
summary.advtrain_cnn <- function(object, ...) {
  w <- unlist(lapply(object$weights, `[[`, "weight"))
  structure(list(fit = object, history = object$history,
                 nonzero = sum(w != 0), nweights = length(w)),
            class = "summary.advtrain_cnn")
}

#' @export
print.summary.advtrain_cnn <- function(x, ...) {
  print(x$fit)
  cat(sprintf("nonzero weights: %d of %d\n", x$nonzero, x$nweights))
  print(utils::tail(x$history, 5), row.names = FALSE, digits = 4)
  invisible(x)
}

#' @export
plot.advtrain_cnn <- function(x, ...) {
  h <- x$history
  acc <- intersect(c("train_accuracy", "val_accuracy", "val_adv_accuracy"), names(h))
  old <- graphics::par(mfrow = c(1, 2))
  on.exit(graphics::par(old))
  graphics::plot(h$epoch, h$loss, type = "b", xlab = "epoch", ylab = "training loss",
                 main = "Loss", ...)
  if (length(acc)) {
    graphics::matplot(h$epoch, h[acc], type = "b", pch = 1, lty = 1,
                      col = seq_along(acc), xlab = "epoch", ylab = "accuracy",
                      main = "Accuracy", ylim = c(0, 1))
    graphics::legend("bottomright", legend = acc, col = seq_along(acc), lty = 1,
                     bty = "n")
  }
  invisible(x)
}
