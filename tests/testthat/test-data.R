write_idx <- function(path, type, dims, values, size, gz = FALSE, extra = raw()) {
  con <- if (gz) gzfile(path, "wb") else file(path, "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0, 0, type, length(dims))), con)
  writeBin(as.integer(dims), con, size = 4, endian = "big")
  if (type %in% c(0x0d, 0x0e)) {
    writeBin(as.double(values), con, size = size, endian = "big")
  } else {
    writeBin(as.integer(values), con, size = size, endian = "big")
  }
  writeBin(extra, con)
}

test_that("read_idx() reads images and labels, gzipped or not", {
  img <- array(sample(0:255, 3 * 4 * 5, TRUE), c(3, 4, 5))
  # IDX is row-major: the last index runs fastest
  bytes <- as.vector(aperm(img, c(3, 2, 1)))
  for (gz in c(FALSE, TRUE)) {
    f <- withr::local_tempfile(fileext = if (gz) ".gz" else ".idx")
    write_idx(f, 0x08, dim(img), bytes, size = 1, gz = gz)
    expect_identical(read_idx(f), img)
  }
  f <- withr::local_tempfile()
  write_idx(f, 0x08, 6, c(0, 1, 9, 2, 255, 7), size = 1)
  expect_identical(read_idx(f), c(0L, 1L, 9L, 2L, 255L, 7L))
  write_idx(f, 0x0c, c(2, 2), c(-5, 70000, 3, 4), size = 4)
  expect_identical(read_idx(f), matrix(c(-5L, 3L, 70000L, 4L), 2))
  write_idx(f, 0x0e, 3, c(0.5, -1.25, 3), size = 8)
  expect_identical(read_idx(f), c(0.5, -1.25, 3))
})

test_that("read_idx() rejects truncated and wrong files", {
  f <- withr::local_tempfile()
  write_idx(f, 0x08, c(2, 3, 3), 1:10, size = 1)
  expect_error(read_idx(f), "truncated", class = "advtrain_error_idx")
  write_idx(f, 0x08, 3, 1:3, size = 1, extra = as.raw(1))
  expect_error(read_idx(f), "after the declared data", class = "advtrain_error_idx")
  writeLines("hello world, not an IDX file", f)
  expect_error(read_idx(f), "magic", class = "advtrain_error_idx")
  writeBin(as.raw(c(0, 0, 0x42, 1, 0, 0, 0, 1, 5)), f)
  expect_error(read_idx(f), "data type", class = "advtrain_error_idx")
  writeBin(as.raw(c(0, 0, 8, 3, 0, 0)), f)
  expect_error(read_idx(f), "header is truncated", class = "advtrain_error_idx")
  expect_snapshot(error = TRUE, {
    read_idx("no-such-file.idx")
    read_idx(3)
  })
})

test_that("the shipped Fashion-MNIST subset loads with the right shapes and classes", {
  d <- fashion_mnist(classes = c("T-shirt/top", "Trouser"))
  expect_identical(dim(d$train$x), c(1200L, 28L, 28L))
  expect_identical(dim(d$test$x), c(600L, 28L, 28L))
  expect_identical(as.vector(table(d$train$y)), c(600L, 600L))
  expect_identical(levels(d$test$y), c("T-shirt/top", "Trouser"))
  expect_true(all(d$train$x >= 0 & d$train$x <= 1))
  ten <- fashion_mnist()
  expect_identical(as.vector(table(ten$train$y)), rep(100L, 10))
  expect_identical(as.vector(table(ten$test$y)), rep(50L, 10))
  three <- fashion_mnist(classes = c(9, 0, 5))
  expect_identical(levels(three$train$y), c("T-shirt/top", "Sandal", "Ankle boot"))
  expect_identical(nrow(three$train$x), 300L)
  # trousers are taller than wide: more ink in the central columns than T-shirts
  ink <- function(cls) mean(d$train$x[d$train$y == cls, , c(1:5, 24:28)])
  expect_gt(ink("T-shirt/top"), ink("Trouser"))
  expect_snapshot(error = TRUE, fashion_mnist(classes = "Shoe"))
})

test_that("the shipped subset equals the first images of the full data set", {
  skip_on_cran()
  dir <- "/usr/share/datasets/fashion-mnist"
  skip_if_not(file.exists(file.path(dir, "t10k-images-idx3-ubyte.gz")))
  labels <- read_idx(file.path(dir, "t10k-labels-idx1-ubyte.gz"))
  images <- read_idx(file.path(dir, "t10k-images-idx3-ubyte.gz"))
  expect_identical(dim(images), c(10000L, 28L, 28L))
  i <- sort(c(head(which(labels == 0), 300), head(which(labels == 1), 300)))
  d <- fashion_mnist(classes = 0:1)
  expect_identical(d$test$x, images[i, , ] / 255)
})
