#' Read an IDX file (the MNIST format)
#'
#' Reads MNIST-format IDX files, gzipped or not: MNIST, Fashion-MNIST or any data set in
#' that format. The header (two zero bytes, a type code, the number of dimensions and
#' the big-endian sizes) is validated, and so is the length of the data: a truncated
#' or over-long file, or one that is not in IDX format, gets an error.
#'
#' @param path Path of the file (`.gz` or uncompressed).
#' @return For a one-dimensional file (labels) a vector; otherwise an array whose
#'   first dimension indexes the items, e.g. n x 28 x 28 for images (`x[i, row, col]`).
#'   Unsigned and signed bytes, shorts and ints give integers; floats and doubles give
#'   doubles.
#' @examples
#' f <- tempfile(fileext = ".idx")
#' con <- file(f, "wb")
#' writeBin(as.raw(c(0, 0, 8, 3)), con)
#' writeBin(c(2L, 2L, 3L), con, endian = "big")
#' writeBin(as.raw(1:12), con)
#' close(con)
#' read_idx(f)[2, , ]
#' @export
read_idx <- function(path) {
  if (!is.character(path) || length(path) != 1 || is.na(path)) {
    abort_arg("{.arg path} must be a file name, not {describe(path)}.", "path",
              rlang::current_env())
  }
  if (!file.exists(path)) {
    abort_arg("{.arg path} names a file that does not exist: {.file {path}}.", "path",
              rlang::current_env())
  }
  con <- gzfile(path, "rb")
  on.exit(close(con))
  bad <- function(msg) {
    cli::cli_abort(c("{.file {path}} is not a valid IDX file: {msg}"),
                   class = "advtrain_error_idx", call = NULL)
  }
  magic <- readBin(con, "raw", 4)
  if (length(magic) < 4 || magic[1] != 0 || magic[2] != 0) {
    bad("it does not start with the IDX magic number (two zero bytes).")
  }
  types <- list("08" = list("integer", 1, FALSE), "09" = list("integer", 1, TRUE),
                "0b" = list("integer", 2, TRUE), "0c" = list("integer", 4, TRUE),
                "0d" = list("double", 4, TRUE), "0e" = list("double", 8, TRUE))
  tp <- types[[as.character(magic[3])]]
  if (is.null(tp)) bad(sprintf("unknown data type code 0x%s.", as.character(magic[3])))
  nd <- as.integer(magic[4])
  if (nd < 1) bad("it declares zero dimensions.")
  dims <- readBin(con, "integer", nd, size = 4, endian = "big")
  if (length(dims) < nd) bad("the header is truncated.")
  if (any(dims < 0)) bad("it declares a negative size.")
  total <- prod(as.numeric(dims))
  v <- readBin(con, tp[[1]], total, size = tp[[2]], signed = tp[[3]], endian = "big")
  if (length(v) < total) {
    bad(sprintf("the data are truncated (%.0f of %.0f values).", length(v), total))
  }
  if (length(readBin(con, "raw", 1)) > 0) bad("there are bytes after the declared data.")
  if (nd == 1) return(v)
  # IDX is row-major (last index fastest)
  aperm(array(v, rev(dims)), rev(seq_len(nd)))
}

fashion_labels <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                    "Shirt", "Sneaker", "Bag", "Ankle boot")

fashion_dir <- function() {
  getOption("advtrain.fashion_mnist_dir", "/usr/share/datasets/fashion-mnist")
}

#' Fashion-MNIST images
#'
#' Loads the small subset of Fashion-MNIST shipped with the package or, with
#' `full = TRUE`, the full data set (60 000 training and 10 000 test images) from the
#' Debian package `dataset-fashion-mnist` (directory
#' `/usr/share/datasets/fashion-mnist`, or the option `advtrain.fashion_mnist_dir`).
#'
#' The shipped subset (file `extdata/fashion-mnist-subset.rds`, made by
#' `inst/scripts/make-fashion-subset.R`) has two parts: the first 600 training and
#' first 300 test images of each of the classes T-shirt/top and Trouser (used when
#' `classes` is a subset of these two), and a balanced ten-class subset of the first
#' 100 training and 50 test images of every class (used otherwise). Fashion-MNIST is
#' copyright 2017 Zalando SE and distributed under the MIT licence; see
#' `extdata/README.md`.
#'
#' @param classes `NULL` for all classes, or the classes to keep: names (see
#'   Details) or 0-based labels 0-9.
#' @param full Load the full data set instead of the shipped subset?
#' @return A list with `train` and `test`, each a list with `x` (an n x 28 x 28 array
#'   of pixel intensities in \[0, 1\]) and `y` (a factor of class names).
#' @examples
#' d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
#' dim(d$train$x)
#' table(d$train$y)
#' @export
fashion_mnist <- function(classes = NULL, full = FALSE) {
  full <- check_flag(full)
  keep <- fashion_classes(classes)
  if (full) {
    dir <- fashion_dir()
    files <- file.path(dir, c("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
    if (!all(file.exists(files))) {
      cli::cli_abort(c("The full Fashion-MNIST data set is not installed in {.file {dir}}.",
                       i = "On Debian: {.code apt-get install dataset-fashion-mnist}; or use {.code full = FALSE} for the shipped subset."),
                     class = "advtrain_error_data")
    }
    part <- function(i, l) list(x = read_idx(files[i]), y = read_idx(files[l]))
    raw <- list(train = part(1, 2), test = part(3, 4))
  } else {
    sub <- readRDS(system.file("extdata", "fashion-mnist-subset.rds",
                               package = "advtrain", mustWork = TRUE))
    raw <- if (all(keep %in% 0:1)) sub$two else sub$ten
    raw <- lapply(raw, function(p) {
      list(x = aperm(array(as.integer(p$x), c(28, 28, length(p$y))), c(3, 1, 2)),
           y = p$y)
    })
  }
  lapply(raw, function(p) {
    i <- which(p$y %in% keep)
    list(x = p$x[i, , , drop = FALSE] / 255,
         y = factor(fashion_labels[p$y[i] + 1], levels = fashion_labels[keep + 1]))
  })
}

fashion_classes <- function(classes, call = rlang::caller_env()) {
  if (is.null(classes)) return(0:9)
  if (is.character(classes) && !anyNA(classes)) {
    k <- match(classes, fashion_labels)
    if (anyNA(k)) {
      abort_arg("{.arg classes} must be Fashion-MNIST class names ({.val {fashion_labels}}), not {.val {classes[is.na(k)]}}.",
                "classes", call)
    }
    return(sort(unique(k - 1L)))
  }
  if (is_plain_numeric(classes) && !anyNA(classes) && all(classes %in% 0:9)) {
    return(sort(unique(as.integer(classes))))
  }
  abort_arg("{.arg classes} must be NULL, class names or labels 0-9, not {describe(classes)}.",
            "classes", call)
}
