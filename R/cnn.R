# Small CNNs and MLPs: layer specification, adversarial training, prediction and
# evaluation. R validates and shapes; the C kernels in cnn_*.c compute.

# ---- layer specification -----------------------------------------------------------

new_layer <- function(type, ...) structure(list(type = type, ...), class = "advtrain_layer")

#' Layers and model specifications for adv_cnn()
#'
#' A model is a sequence of layers: `conv()` (2-D convolution, stride 1, zero
#' padding), `relu()`, `pool()` (non-overlapping max-pooling) and `dense()` (fully
#' connected; flattens its input). The last layer must be `dense()`, with as many
#' units as classes (softmax cross-entropy loss) or one unit for a numeric response
#' (squared loss \eqn{(f - y)^2}).
#'
#' `relu(softplus = 10)` uses ReLU in the forward pass and the derivative of
#' Softplus with \eqn{\beta = 10}, \eqn{\sigma(\beta z)}, in the backward pass (the
#' trick of Xie et al. 2020 used by the paper). `mlp_spec(hidden, classes)` is
#' `cnn_spec(dense(hidden), relu(), dense(classes))`, the two-layer ReLU network of the
#' paper's Figure 4.
#'
#' Shapes are checked against the input when the model is trained (or at once, if
#' `input` is given): a specification whose shapes do not fit gets an error naming
#' the layer.
#'
#' @param filters Number of output channels.
#' @param size Kernel size (square) for `conv()`; window and stride for `pool()`.
#' @param padding Zero padding on each side; the default keeps the image size for odd
#'   kernels.
#' @param softplus `NULL` for the plain ReLU derivative, or \eqn{\beta > 0} for the
#'   Softplus(\eqn{\beta}) derivative in the backward pass.
#' @param units Number of outputs of a dense layer.
#' @param ... Layers, in order.
#' @param input Optional input shape `c(height, width, channels)` to check at once.
#' @param hidden Width(s) of the hidden layer(s) of an MLP.
#' @param classes Number of classes (1 for a regression head with squared loss).
#' @return A layer (class `advtrain_layer`) or a specification (class
#'   `advtrain_spec`).
#' @examples
#' spec <- cnn_spec(conv(16, 5), relu(), pool(2), conv(32, 5), relu(), pool(2),
#'                  dense(10), input = c(28, 28, 1))
#' spec
#' mlp_spec(hidden = 1024, classes = 2)
#' @name cnn_spec
NULL

#' @rdname cnn_spec
#' @export
conv <- function(filters, size, padding = size %/% 2) {
  filters <- check_count(filters)
  size <- check_count(size)
  padding <- check_count(padding, min = 0)
  new_layer("conv", filters = filters, size = size, padding = padding)
}

#' @rdname cnn_spec
#' @export
relu <- function(softplus = NULL) {
  if (!is.null(softplus)) softplus <- check_number(softplus, min = 0, strict = TRUE)
  new_layer("relu", softplus = if (is.null(softplus)) 0 else softplus)
}

#' @rdname cnn_spec
#' @export
pool <- function(size = 2) new_layer("pool", size = check_count(size))

#' @rdname cnn_spec
#' @export
dense <- function(units) new_layer("dense", units = check_count(units))

#' @rdname cnn_spec
#' @export
cnn_spec <- function(..., input = NULL) {
  layers <- list(...)
  ok <- vapply(layers, inherits, logical(1), "advtrain_layer")
  if (length(layers) == 0 || !all(ok)) {
    bad <- which(!ok)[1]
    abort_arg(if (length(layers) == 0) "{.fn cnn_spec} needs at least one layer."
              else "Argument {bad} of {.fn cnn_spec} must be a layer such as {.code conv(16, 5)}, not {describe(layers[[bad]])}.",
              "...", rlang::caller_env())
  }
  if (layers[[length(layers)]]$type != "dense") {
    abort_arg("The last layer of a specification must be {.code dense()}, not {.code {layers[[length(layers)]]$type}()}.",
              "...", rlang::caller_env())
  }
  spec <- structure(list(layers = layers), class = "advtrain_spec")
  if (!is.null(input)) {
    input <- check_input_shape(input)
    cnn_plan(spec, input)
    spec$input <- input
  }
  spec
}

#' @rdname cnn_spec
#' @export
mlp_spec <- function(hidden = 1024, classes = 2, softplus = NULL) {
  hidden <- vapply(hidden, function(h) check_count(h, arg = "hidden"), integer(1))
  classes <- check_count(classes)
  layers <- unlist(lapply(hidden, function(h) list(dense(h), relu(softplus))),
                   recursive = FALSE)
  do.call(cnn_spec, c(layers, list(dense(classes))))
}

check_input_shape <- function(input, call = rlang::caller_env()) {
  input <- check_numeric(input, len = 3, min = 1, call = call)
  if (any(input != round(input))) {
    abort_arg("{.arg input} must be three whole numbers (height, width, channels).",
              "input", call)
  }
  as.integer(input)
}

layer_label <- function(l) {
  switch(l$type,
         conv = sprintf("conv(%d, %d)", l$filters, l$size),
         relu = if (l$softplus > 0) sprintf("relu(softplus = %g)", l$softplus) else "relu()",
         pool = sprintf("pool(%d)", l$size),
         dense = sprintf("dense(%d)", l$units))
}

#' @export
print.advtrain_spec <- function(x, ...) {
  cat("<advtrain_spec>", paste(vapply(x$layers, layer_label, ""), collapse = " - "), "\n")
  if (!is.null(x$input)) {
    p <- cnn_plan(x, x$input)
    cat(sprintf("input %s, %d parameters\n", paste(x$input, collapse = " x "), p$np))
  }
  invisible(x)
}

# The layer table that C reads (one row per layer: type, h, w, c, ho, wo, co, k, pad,
# woff, boff; offsets 0-based into the flat parameter vector) and the shapes of the
# weight arrays.
cnn_plan <- function(spec, input, call = rlang::caller_env(), precision = "double") {
  h <- input[1]; w <- input[2]; c <- input[3]
  nl <- length(spec$layers)
  arch <- matrix(0L, nl, 11, dimnames = list(NULL, c("type", "h", "w", "c", "ho", "wo",
                                                       "co", "k", "pad", "woff", "boff")))
  beta <- numeric(nl)
  shapes <- vector("list", nl)
  off <- 0
  for (i in seq_len(nl)) {
    l <- spec$layers[[i]]
    here <- sprintf("layer %d, %s", i, layer_label(l))
    k <- 0L; pad <- 0L; woff <- 0; boff <- 0
    if (l$type == "conv") {
      k <- l$size; pad <- l$padding
      ho <- h + 2 * pad - k + 1; wo <- w + 2 * pad - k + 1; co <- l$filters
      if (ho < 1 || wo < 1) {
        abort_arg("{.arg spec} does not fit the input {.arg x}: {here} gets a {h} x {w} image, smaller than its kernel {k} x {k} with padding {pad}.",
                  "spec", call)
      }
      shapes[[i]] <- c(k, k, c, co)
      woff <- off; boff <- off + k * k * c * co; off <- boff + co
      type <- 1L
    } else if (l$type == "relu") {
      ho <- h; wo <- w; co <- c; beta[i] <- l$softplus; type <- 2L
    } else if (l$type == "pool") {
      k <- l$size
      ho <- h %/% k; wo <- w %/% k; co <- c
      if (ho < 1 || wo < 1) {
        abort_arg("{.arg spec} does not fit the input {.arg x}: {here} gets a {h} x {w} image, smaller than its window.",
                  "spec", call)
      }
      type <- 3L
    } else {
      I <- h * w * c
      ho <- 1; wo <- 1; co <- l$units
      shapes[[i]] <- c(I, co)
      woff <- off; boff <- off + I * co; off <- boff + co
      type <- 4L
    }
    arch[i, ] <- as.integer(c(type, h, w, c, ho, wo, co, k, pad, woff, boff))
    h <- ho; w <- wo; c <- co
  }
  if (off > .Machine$integer.max) {
    abort_arg("The specification has too many parameters ({off}).", "spec", call)
  }
  arch <- cbind(arch, gemm = if (identical(precision, "single")) 2L else gemm_code())
  list(arch = arch, beta = beta, shapes = shapes, np = as.integer(off), nout = c,
       din = prod(input))
}

# Matrix products in double precision: the package's own register-blocked kernels
# ("own", the default) or R's BLAS dgemm ("blas"; worth it with an optimised BLAS such
# as OpenBLAS). precision = "single" always uses the own single-precision kernel (code 2).
gemm_code <- function() {
  g <- getOption("advtrain.cnn_gemm", "own")
  check_choice(g, c("own", "blas"), arg = "options(advtrain.cnn_gemm)")
  if (g == "own") 1L else 0L
}

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
#' @return An object of class `advtrain_cnn`: a list with `weights` (per layer,
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
            class = "advtrain_cnn")
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
  cat("<advtrain_cnn>", paste(vapply(x$spec$layers, layer_label, ""), collapse = " - "),
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
