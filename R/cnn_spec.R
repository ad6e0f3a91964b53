# Small CNNs and MLPs: the layer specification (conv/relu/pool/dense, cnn_spec,
# mlp_spec) and the plan that sizes every layer for the C kernels.

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

