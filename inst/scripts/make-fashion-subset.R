# Makes inst/extdata/fashion-mnist-subset.rds, the small Fashion-MNIST subset shipped
# with advtrain, from the full data set of Debian's package dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist; Fashion-MNIST (c) 2017 Zalando SE, MIT licence).
#
# Deterministic, no randomness: in file order, it keeps
#   two: the first 600 training and the first 300 test images of classes 0 (T-shirt/top)
#        and 1 (Trouser);
#   ten: the first 100 training and the first 50 test images of each of the 10 classes.
# Pixels are stored as raw bytes, image by image (row, column, image), xz-compressed.
#
# Run from the package root:  Rscript inst/scripts/make-fashion-subset.R
# (uses advtrain::read_idx(); install the package first, e.g. into .lib).
library(advtrain)
dir <- "/usr/share/datasets/fashion-mnist"
rd <- function(f) read_idx(file.path(dir, f))
full <- list(
  train = list(x = rd("train-images-idx3-ubyte.gz"), y = rd("train-labels-idx1-ubyte.gz")),
  test = list(x = rd("t10k-images-idx3-ubyte.gz"), y = rd("t10k-labels-idx1-ubyte.gz")))

take <- function(part, classes, per_class) {
  i <- sort(unlist(lapply(classes, function(k) head(which(part$y == k), per_class))))
  list(x = as.raw(aperm(part$x[i, , , drop = FALSE], c(2, 3, 1))), y = part$y[i])
}
subset <- list(
  two = list(train = take(full$train, 0:1, 600), test = take(full$test, 0:1, 300)),
  ten = list(train = take(full$train, 0:9, 100), test = take(full$test, 0:9, 50)))
out <- file.path("inst", "extdata", "fashion-mnist-subset.rds")
saveRDS(subset, out, compress = "xz")
cat(sprintf("wrote %s (%.0f kB)\n", out, file.size(out) / 1024))
