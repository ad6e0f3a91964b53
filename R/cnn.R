# Small CNNs and MLPs: data shaping and adversarial training (adv_cnn() with its
# checkpoints). R validates and shapes; the C kernels in cnn_*.c compute.

# ---- data shaping -------------------------------------------------------------------

# x (n x H x W [x C] array, or n x p matrix) -> list(x = din x n double matrix, input)
prepare_x <- function(x, input = NULL, arg = "x", call = rlang::caller_env()) {
  d <- dim(x)
  if (is.data.frame(x)) x <- check_matrix(x, arg = arg, call = call)
  d <- dim(x)
  if (!is.atomic(x) || !(is.double(x) || is.integer(x)) || is.object(x) || is.null(d) ||
      !(length(d) %in% 2:4) ||
      any(d == 0)) {
    abort_arg("{.arg {arg}} must be a numeric n x p matrix or an n x height x width (x channels) array, not {describe(x)}.",
              arg, call)
  }
  if (first_nonfinite(x) > 0) {
    abort_arg("{.arg {arg}} must contain only finite values.", arg, call)
  }
  n <- d[1]
  shape <- switch(length(d), NULL, c(1L, 1L, d[2]), c(d[2:3], 1L), d[2:4])
  if (!is.null(input)) {
    if (prod(shape) != prod(input) || (length(d) > 2 && any(shape != input))) {
      abort_arg("{.arg {arg}} must hold images of size {paste(input, collapse = ' x ')} (height x width x channels) as the model was trained on, not {paste(d[-1], collapse = ' x ')}.",
                arg, call)
    }
    shape <- input
  }
  xm <- if (length(d) == 2) t(x) else {
    a <- aperm(x, c(seq_along(d)[-1], 1L))
    dim(a) <- c(prod(shape), n)
    a
  }
  storage.mode(xm) <- "double"
  list(x = xm, input = as.integer(shape), n = n)
}

# y -> list(y = double codes (0-based classes or numeric response), levels, loss)
prepare_y <- function(y, n, nout, levels = NULL, arg = "y", call = rlang::caller_env()) {
  if (length(y) != n) {
    abort_arg("{.arg {arg}} must have one label per image ({n}), not {length(y)}.",
              arg, call)
  }
  if (anyNA(y)) abort_arg("{.arg {arg}} must not contain missing values.", arg, call)
  if (nout == 1 && is.numeric(y) && is.null(levels)) {
    return(list(y = as.double(y), levels = NULL, loss = 2L))
  }
  if (is.null(levels)) {
    f <- if (is.factor(y)) y else factor(y)
    levels <- levels(f)
    if (length(levels) != nout) {
      abort_arg("{.arg {arg}} has {length(levels)} class{?es} but the last layer of {.arg spec} has {nout} unit{?s}.",
                arg, call)
    }
  } else {
    f <- factor(as.character(y), levels = levels)
    if (anyNA(f)) {
      abort_arg("{.arg {arg}} contains labels the model was not trained on: {.val {unique(as.character(y)[is.na(f)])}}.",
                arg, call)
    }
  }
  list(y = as.double(as.integer(f) - 1L), levels = levels, loss = 1L)
}

flatten_weights <- function(weights) {
  unlist(lapply(weights, function(l) c(l$weight, l$bias)), use.names = FALSE)
}

unflatten_weights <- function(theta, plan, spec) {
  out <- vector("list", length(spec$layers))
  for (i in seq_along(out)) {
    sh <- plan$shapes[[i]]
    if (is.null(sh)) next
    a <- plan$arch[i, ]
    nw <- prod(sh)
    out[[i]] <- list(weight = array(theta[a["woff"] + seq_len(nw)], sh),
                     bias = theta[a["boff"] + seq_len(a["co"])])
  }
  out
}

# He-normal weights, zero biases, drawn from R's RNG.
init_weights <- function(plan, spec) {
  theta <- numeric(plan$np)
  for (i in seq_along(spec$layers)) {
    sh <- plan$shapes[[i]]
    if (is.null(sh)) next
    a <- plan$arch[i, ]
    fan_in <- prod(sh[-length(sh)])
    nw <- prod(sh)
    theta[a["woff"] + seq_len(nw)] <- stats::rnorm(nw, sd = sqrt(2 / fan_in))
  }
  theta
}

# ---- training -----------------------------------------------------------------------

#' Adversarial training of small CNNs and MLPs
#'
#' Trains the network `spec` by minibatch SGD with momentum on adversarially
#' perturbed inputs (the paper's Algorithm 1 for networks): in each batch every image
#' is attacked by FGSM/FGM or PGD-k with the surrogate attack \eqn{A_{\epsilon,\xi}}
#' of the paper, then the weights take one step with the attacked images held fixed.
#'
#' **Attacks.** Each step of the attack moves the perturbation \eqn{\delta} by
#' `step_size` times \eqn{g/\sqrt{\|g\|^2 + \xi^2}} (L2) or
#' \eqn{g_i/(|g_i| + \xi)} (L-infinity), \eqn{g} the input gradient of the sample's
#' loss; with \eqn{\xi = 0} these are the normalised gradient and its sign, and a zero
#' gradient moves nothing. After each step \eqn{\delta} is projected on the
#' \eqn{\epsilon}-ball and \eqn{x + \delta} clipped to `clip`. PGD starts from a random
#' point, uniform in the L-infinity box or in the L2 ball (`random_start`); FGSM (FGM
#' for L2) is one step of size \eqn{\epsilon} from the clean image. The default step
#' size is \eqn{2\epsilon/k} (the paper's appendix A.3); \eqn{2.5\epsilon/k} is a common
#' alternative.
#'
#' **Schedule.** The learning rate is multiplied by 0.1 after each epoch listed in
#' `milestones` (`milestones = 75` trains epochs 1-75 at `lr`, then at `lr / 10`), and
#' so is \eqn{\xi} when `xi_follows_lr = TRUE`, as in the paper.
#'
#' **Optimiser.** SGD with momentum: \eqn{v \leftarrow \mu v + g + \omega w},
#' \eqn{w \leftarrow w - \eta v}, the weight decay \eqn{\omega} on weights only. The L1
#' penalty \eqn{\lambda \sum |w|} (weights only, not biases) is applied by a
#' *proximal* step after each update, \eqn{w \leftarrow \mathrm{sign}(w)\max(|w| -
#' \eta\lambda, 0)}, which produces exact zeros.
#'
#' **Threads and randomness.** A batch is cut into chunks of 16 images, processed in
#' parallel by `threads` OpenMP threads; each chunk accumulates its own gradient and
#' the chunks are summed in a fixed order, so the result does not depend on the
#' number of threads. (Exception: with a multi-threaded BLAS whose own results depend
#' on its thread count.) Initial weights (He normal), shuffling and random starts all
#' come from R's random number generator, so `set.seed()` or `seed` make a run
#' reproducible.
#'
#' **Speed and precision.** A convolution is an im2col matrix product per chunk of 16
#' images and a dense layer one product per chunk. With `precision = "single"` (the
#' default) the convolutions' matrix products run in single precision, as
#' deep-learning libraries do: their operands are rounded to float, products and sums of up to 256 terms are
#' formed in float and these partial sums are added in double; a full chunk's
#' convolutions read a float copy of their input in place instead of forming the im2col
#' matrix, and sum the input gradient in float. Dense layers, weights, activations, the
#' loss, the attacks and the SGD update stay in double (a dense layer sees only 16 rows
#' per chunk, too few for the conversion to pay; an MLP therefore gives the same
#' result in both precisions). Gradients then agree with the double
#' computation to a relative error of about 1e-6 (the package's tests check 1e-5),
#' which is far below the noise of stochastic gradients; the fitted weights differ from
#' a double-precision run in their later digits. `precision = "double"` computes
#' everything in double (about 2-3 times slower) and is what the gradient tests against
#' finite differences use. The double products use the package's own register-blocked
#' kernels, several times faster than R's reference BLAS;
#' `options(advtrain.cnn_gemm = "blas")` sends them to R's BLAS `dgemm` instead, which
#' pays only with an optimised BLAS (OpenBLAS with `OPENBLAS_NUM_THREADS=1`, since the
#' package already runs one chunk per thread). On x86-64 with GCC or clang, both kinds
#' of kernels are compiled twice, for AVX2/FMA and for the baseline instruction set,
#' and the AVX2/FMA build is chosen at run time when the CPU has it: fused multiply-adds
#' round differently, so a fit on a CPU without AVX2/FMA differs in the last digits
#' from one on a CPU with it (for either precision; on one machine results do not
#' depend on the number of threads). `bench/cnn.R` in the source package measures the
#' speed against PyTorch.
#'
#' **Long runs.** A progress bar shows the epoch, loss and accuracy; the run can be
#' interrupted. With `checkpoint = "file.rds"` the full training state (weights,
#' momentum, history and the random number generator's state) is written after each
#' epoch; `resume = TRUE` continues from that file and ends with the same result as an
#' uninterrupted run.
#'
#' @param x Images: an n x height x width (x channels) array, or an n x p matrix for
#'   an MLP (a square p is read as a one-channel image for convolutions).
#' @param y Class labels (factor, character or integer), or a numeric response when
#'   the last layer has one unit.
#' @param spec A model from [cnn_spec()] or [mlp_spec()].
#' @param eps Attack strength \eqn{\epsilon \ge 0}.
#' @param norm `"linf"` or `"l2"`.
#' @param attack `"pgd"`, `"fgsm"` (FGM for L2) or `"none"` (standard training).
#' @param steps Number of PGD steps k (at most 1000).
#' @param step_size PGD step size; `NULL` means \eqn{2\epsilon/k}.
#' @param random_start Start PGD from a random point of the ball?
#' @param xi Smoothing \eqn{\xi \ge 0} of the surrogate attack (0: the true attack).
#' @param lambda L1 penalty on the weights.
#' @param epochs Number of passes over the data (at most 1e6).
#' @param batch_size Images per SGD step.
#' @param lr,momentum,weight_decay SGD settings.
#' @param milestones Epochs after which the learning rate is divided by 10.
#' @param xi_follows_lr Divide \eqn{\xi} by 10 with the learning rate?
#' @param seed `NULL`, or a seed for `set.seed()` used for this call only.
#' @param threads Number of threads; `NULL` means [adv_threads()].
#' @param checkpoint `NULL` or a file to write the training state to after each epoch.
#' @param resume Continue from `checkpoint` if it exists?
#' @param validation `NULL` or `list(x = , y = )`: clean and adversarial accuracy
#'   (PGD with \eqn{\xi = 0}) are recorded after each epoch.
#' @param clip The data range `c(lower, upper)` that attacked images are clipped to, or
#'   `NULL` for none.
#' @param precision `"single"` (matrix products in single precision, the default) or
#'   `"double"`; see Speed and precision. Kept in the fit: [predict.advtrain_cnn()],
#'   [evaluate()] and [attack_difference()] use the fit's precision.
#' @param progress Show a progress bar?
#' @return An object of class `c("adv_cnn", "advtrain_cnn")` (the `adv_*` names of the
#'   other fits; the methods are those of `advtrain_cnn`, the class of earlier
#'   versions, so saved fits keep working): a list with `weights` (per layer,
#'   `weight` array and `bias` vector), `spec`, `input`, `levels`, `settings` and
#'   `history` (a data frame with one row per epoch).
#' @seealso [predict.advtrain_cnn()], [evaluate()], [attack_difference()].
#' @examples
#' d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
#' fit <- adv_cnn(d$train$x[1:200, , ], d$train$y[1:200], mlp_spec(64, 2),
#'                eps = 0.5, norm = "l2", steps = 3, epochs = 2, seed = 1)
#' fit
#' evaluate(fit, d$test$x[1:200, , ], d$test$y[1:200], eps = 0.5, norm = "l2", steps = 3)
#' @export
adv_cnn <- function(x, y, spec, eps = 0, norm = c("linf", "l2"),
                    attack = c("pgd", "fgsm", "none"), steps = 10, step_size = NULL,
                    random_start = TRUE, xi = 0, lambda = 0, epochs, batch_size = 128,
                    lr = 0.1, momentum = 0.9, weight_decay = 0, milestones = NULL,
                    xi_follows_lr = TRUE, seed = NULL, threads = NULL, checkpoint = NULL,
                    resume = FALSE, validation = NULL, clip = c(0, 1),
                    precision = c("single", "double"), progress = interactive()) {
  call <- rlang::current_env()
  s <- check_cnn_args(x, y, spec, eps, norm, attack, steps, step_size, random_start, xi,
                      lambda, epochs, batch_size, lr, momentum, weight_decay, milestones,
                      xi_follows_lr, seed, checkpoint, resume, validation, clip, progress,
                      precision)
  nth <- resolve_threads(threads)
  if (!is.null(s$seed)) withr::local_seed(s$seed)
  plan <- s$plan
  state <- NULL
  if (s$resume && file.exists(s$checkpoint)) state <- read_checkpoint(s, plan)
  if (is.null(state)) {
    theta <- init_weights(plan, spec)
    state <- list(theta = theta, vel = numeric(length(theta)), epoch = 0L,
                  history = NULL)
  } else {
    assign(".Random.seed", state$rng, envir = globalenv())
  }
  if (s$progress) {
    cli::cli_progress_bar("Training", total = s$epochs, clear = FALSE,
                          format = "{cli::pb_bar} epoch {cli::pb_current}/{cli::pb_total} {status}",
                          .envir = environment())
    status <- ""
  }
  ictrl <- as.integer(c(s$loss, norm_code(s$norm), s$ksteps, s$random_start,
                        s$batch_size, !is.null(s$clip)))
  clip2 <- if (is.null(s$clip)) c(0, 0) else s$clip
  while (state$epoch < s$epochs) {
    e <- state$epoch + 1L
    f <- 0.1^sum(s$milestones < e)
    lr_e <- s$lr * f
    xi_e <- if (s$xi_follows_lr) s$xi * f else s$xi
    perm <- sample.int(s$n) - 1L
    t0 <- proc.time()[["elapsed"]]
    dctrl <- c(lr_e, s$momentum, s$weight_decay, s$lambda, s$eps, s$alpha, xi_e, clip2)
    res <- .Call(C_cnn_train_epoch, plan$arch, plan$beta, state$theta, state$vel, s$x,
                 s$y, perm, dctrl, ictrl, nth)
    st <- res[[3]]
    if (st[4] != 0) {
      cli::cli_abort(c("Training diverged in epoch {e}: the loss or the weights became non-finite.",
                       i = "Try a smaller {.arg lr} (now {lr_e})."),
                     class = "advtrain_error_divergence")
    }
    state$theta <- res[[1]]
    state$vel <- res[[2]]
    row <- data.frame(epoch = e, lr = lr_e, xi = xi_e, loss = st[1] / st[3],
                      train_accuracy = if (s$loss == 1L) st[2] / st[3] else NA_real_,
                      seconds = proc.time()[["elapsed"]] - t0)
    if (!is.null(s$validation)) {
      ev <- evaluate_raw(state$theta, plan, s, s$validation$x, s$validation$y,
                         s$eps, s$norm, s$steps, 2 * s$eps / s$steps, 1L, nth)
      row$val_accuracy <- ev$clean_accuracy
      row$val_adv_accuracy <- ev$adversarial_accuracy
    }
    state$history <- rbind(state$history, row)
    state$epoch <- e
    if (!is.null(s$checkpoint)) write_checkpoint(s, state)
    if (s$progress) {
      status <- sprintf("loss %.4f acc %.3f", row$loss, row$train_accuracy)
      cli::cli_progress_update(set = e)
    }
  }
  if (s$progress) cli::cli_progress_done()
  structure(list(weights = unflatten_weights(state$theta, plan, spec), spec = spec,
                 input = s$input, levels = s$levels, loss = s$loss,
                 settings = s$settings, history = state$history),
            class = c("adv_cnn", "advtrain_cnn"))
}

check_cnn_args <- function(x, y, spec, eps, norm, attack, steps, step_size, random_start,
                           xi, lambda, epochs, batch_size, lr, momentum, weight_decay,
                           milestones, xi_follows_lr, seed, checkpoint, resume,
                           validation, clip, progress, precision = "double",
                           call = rlang::caller_env()) {
  if (!inherits(spec, "advtrain_spec")) {
    abort_arg("{.arg spec} must be a model from {.fn cnn_spec} or {.fn mlp_spec}, not {describe(spec)}.",
              "spec", call)
  }
  px <- prepare_x(x, spec$input, call = call)
  precision <- check_choice(precision, c("single", "double"), call = call)
  plan <- cnn_plan(spec, px$input, call = call, precision = precision)
  py <- prepare_y(y, px$n, plan$nout, call = call)
  eps <- check_number(eps, min = 0, call = call)
  norm <- check_choice(norm, c("linf", "l2"), call = call)
  attack <- check_choice(attack, c("pgd", "fgsm", "none"), call = call)
  # an attack's steps run inside one C pass over a chunk of images, with no interrupt
  # check between them: bound them so that one pass cannot run for hours
  steps <- check_count(steps, max = 1000, call = call)
  ksteps <- switch(attack, pgd = steps, fgsm = 1L, none = 0L)
  if (eps == 0) ksteps <- 0L
  if (is.null(step_size)) {
    alpha <- if (attack == "fgsm") eps else 2 * eps / steps
  } else {
    alpha <- check_number(step_size, min = 0, strict = TRUE, call = call)
  }
  random_start <- check_flag(random_start, call = call) && attack == "pgd"
  if (is.null(milestones)) milestones <- numeric()
  else milestones <- check_numeric(milestones, min = 1, call = call)
  if (!is.null(clip)) {
    clip <- check_numeric(clip, len = 2, call = call)
    if (clip[1] >= clip[2]) {
      abort_arg("{.arg clip} must be an increasing pair c(lower, upper), not {paste(clip, collapse = ', ')}.",
                "clip", call)
    }
  }
  if (!is.null(clip) && (min(px$x) < clip[1] || max(px$x) > clip[2])) {
    abort_arg(c("{.arg x} has values in [{signif(min(px$x), 3)}, {signif(max(px$x), 3)}], outside the data range {.arg clip} = c({clip[1]}, {clip[2]}).",
                i = "Rescale the images (e.g. pixels / 255) or set {.arg clip} to their range or NULL."),
              "x", call)
  }
  if (!is.null(checkpoint) && !(is.character(checkpoint) && length(checkpoint) == 1 &&
                                !is.na(checkpoint))) {
    abort_arg("{.arg checkpoint} must be NULL or a file name, not {describe(checkpoint)}.",
              "checkpoint", call)
  }
  resume <- check_flag(resume, call = call)
  if (resume && is.null(checkpoint)) {
    abort_arg("{.arg resume} = TRUE needs a {.arg checkpoint} file.", "resume", call)
  }
  if (!is.null(validation)) {
    if (!is.list(validation) || !all(c("x", "y") %in% names(validation))) {
      abort_arg("{.arg validation} must be NULL or a list with elements {.field x} and {.field y}.",
                "validation", call)
    }
    vx <- prepare_x(validation$x, px$input, arg = "validation$x", call = call)
    vy <- prepare_y(validation$y, vx$n, plan$nout, py$levels, arg = "validation$y",
                    call = call)
    validation <- list(x = vx$x, y = vy$y)
  }
  if (!is.null(seed)) seed <- check_count(seed, min = 0, call = call)
  settings <- list(eps = eps, norm = norm, attack = attack, steps = steps,
                   step_size = alpha, random_start = random_start,
                   xi = check_number(xi, min = 0, call = call),
                   lambda = check_number(lambda, min = 0, call = call),
                   epochs = check_count(epochs, max = 1e6, call = call),
                   batch_size = check_count(batch_size, call = call),
                   lr = check_number(lr, min = 0, strict = TRUE, call = call),
                   momentum = check_number(momentum, min = 0, max = 1, call = call),
                   weight_decay = check_number(weight_decay, min = 0, call = call),
                   milestones = milestones,
                   xi_follows_lr = check_flag(xi_follows_lr, call = call), clip = clip,
                   precision = precision)
  c(settings, list(x = px$x, y = py$y, n = px$n, input = px$input, levels = py$levels,
                   loss = py$loss, plan = plan, ksteps = ksteps, alpha = alpha,
                   seed = seed, checkpoint = checkpoint, resume = resume,
                   validation = validation, progress = check_flag(progress, call = call),
                   settings = settings))
}

checkpoint_key <- function(s) {
  # everything but the number of epochs, which a resumed run may extend
  list(arch = s$plan$arch[, colnames(s$plan$arch) != "gemm", drop = FALSE],
       beta = s$plan$beta, settings = s$settings[names(s$settings) != "epochs"],
       n = s$n, levels = s$levels)
}

write_checkpoint <- function(s, state) {
  state$rng <- get(".Random.seed", envir = globalenv())
  state$key <- checkpoint_key(s)
  tmp <- paste0(s$checkpoint, ".tmp")
  saveRDS(state, tmp)
  file.rename(tmp, s$checkpoint)
}

read_checkpoint <- function(s, plan, call = rlang::caller_env()) {
  state <- readRDS(s$checkpoint)
  if (!is.list(state) || !identical(state$key, checkpoint_key(s))) {
    cli::cli_abort(c("The checkpoint {.file {s$checkpoint}} was written by a different model, data or settings.",
                     i = "Delete it or use another file."),
                   call = call, class = "advtrain_error_argument")
  }
  state
}
