# Speed of adv_cnn() against PyTorch on the CPU (issue 6).
#
# Images per second of one training epoch (batch 128) for
#   cnn:  conv(16,5)-relu-pool(2)-conv(32,5)-relu-pool(2)-dense(10) on 28 x 28 inputs,
#         plain training and PGD-10 L-inf adversarial training;
#   mlp:  784-1024-2 with PGD-10 L2 adversarial training;
# with 1 and 2 threads, medians of `reps` repeats, next to PyTorch (bench/cnn_torch.py,
# Debian's python3-torch, float32 = its default, float64 = advtrain's precision = "double") run
# from this script with the same thread count. GFLOP/s use the nominal count
# (3 forward passes per plain step, 2k + 3 per PGD-k step) and are compared with the
# dgemm peak measured here (a 1000 x 1000 product through R's BLAS).
# BENCH_PRECISION=single (default; adv_cnn(precision = "single"), the package default),
# double, or both (timed in turn: column advtrain = single, advtrain_double = double and
# ratio_double_f32 its ratio to PyTorch float32). For double precision, BENCH_GEMM=own
# (default) uses advtrain's own product kernels, BENCH_GEMM=blas R's BLAS dgemm (option
# advtrain.cnn_gemm), BENCH_GEMM=both times the two in turn (advtrain_double_blas and
# own_over_blas, the double own kernels over dgemm). GFLOP/s and pct_peak are those of
# the first variant.
#
# Reproduce (from the package root, advtrain installed in .lib):
#   R_LIBS=.lib Rscript bench/cnn.R                       # R's BLAS (reference BLAS)
#   LD_PRELOAD=/path/to/openblas-pthread/libblas.so.3 OPENBLAS_NUM_THREADS=1 \
#     R_LIBS=.lib Rscript bench/cnn.R                     # OpenBLAS without touching the system
#   BENCH_PRECISION=both R_LIBS=.lib Rscript bench/cnn.R  # single and double in turn
# (the OpenBLAS library can be unpacked privately: apt-get download libopenblas0-pthread;
#  dpkg -x libopenblas0-pthread_*.deb DIR). Options: BENCH_REPS (3), BENCH_TORCH (1),
#  BENCH_PRECISION (single), BENCH_GEMM (own).
suppressPackageStartupMessages(library(advtrain))
print(advtrain_sitrep())  # the machine and kernel variant behind every figure below
reps <- as.integer(Sys.getenv("BENCH_REPS", "3"))
run_torch <- Sys.getenv("BENCH_TORCH", "1") == "1"
gemms <- Sys.getenv("BENCH_GEMM", "own")
gemms <- if (gemms == "both") c("own", "blas") else gemms
precs <- Sys.getenv("BENCH_PRECISION", "single")
precs <- if (precs == "both") c("single", "double") else precs
# variants timed in turn: precision x (double only) product kernels
variants <- list()
for (p in precs) {
  if (p == "single") variants$single <- list(precision = "single", gemm = "own")
  else for (g in gemms) variants[[if (g == "own") "double" else "double_blas"]] <-
    list(precision = "double", gemm = g)
}
cat("variants:", paste(names(variants), collapse = ", "), "\n")

cat("BLAS:", extSoftVersion()[["BLAS"]], "\n")
cat("machine:", parallel::detectCores(), "cores; load average",
    tryCatch(readLines("/proc/loadavg"), error = function(e) "?"), "\n")

# dgemm peak through R's BLAS
m <- 1000
a <- matrix(runif(m * m), m); b <- matrix(runif(m * m), m)
tg <- median(replicate(reps, system.time(a %*% b)[["elapsed"]]))
peak <- 2 * m^3 / tg / 1e9
cat(sprintf("dgemm %d x %d: %.2f GFLOP/s (median of %d)\n\n", m, m, peak, reps))

forward_flops <- function(spec, input) {
  p <- advtrain:::cnn_plan(spec, input)
  a <- p$arch
  sum(ifelse(a[, "type"] == 1, 2 * a[, "ho"] * a[, "wo"] * a[, "k"]^2 * a[, "c"] * a[, "co"],
             ifelse(a[, "type"] == 4, 2 * a[, "h"] * a[, "w"] * a[, "c"] * a[, "co"], 0)))
}

cnn <- cnn_spec(conv(16, 5), relu(), pool(2), conv(32, 5), relu(), pool(2), dense(10))
mlp <- mlp_spec(hidden = 1024, classes = 2)
configs <- list(
  list(model = "cnn", mode = "plain", spec = cnn, classes = 10, n = 512, eps = 0,
       norm = "linf", attack = "none"),
  list(model = "cnn", mode = "pgd10", spec = cnn, classes = 10, n = 128, eps = 0.1,
       norm = "linf", attack = "pgd"),
  list(model = "mlp", mode = "pgd10", spec = mlp, classes = 2, n = 256, eps = 1,
       norm = "l2", attack = "pgd"))

set.seed(1)
rows <- list()
for (cf in configs) {
  x <- array(runif(cf$n * 784), c(cf$n, 28, 28))
  y <- factor(sample(seq_len(cf$classes), cf$n, TRUE), levels = seq_len(cf$classes))
  fl <- forward_flops(cf$spec, c(28L, 28L, 1L)) * (if (cf$mode == "plain") 3 else 23)
  for (th in 1:2) {
    # the product variants are timed in turn, repeat by repeat, so that they see the
    # same machine load
    tt <- matrix(NA_real_, reps, length(variants), dimnames = list(NULL, names(variants)))
    for (r in seq_len(reps)) for (v in names(variants)) {
      options(advtrain.cnn_gemm = variants[[v]]$gemm)
      tt[r, v] <- system.time(
        adv_cnn(x, y, cf$spec, eps = cf$eps, norm = cf$norm, attack = cf$attack,
                steps = 10, epochs = 1, batch_size = 128, lr = 0.01, seed = 1,
                threads = th, progress = FALSE,
                precision = variants[[v]]$precision))[["elapsed"]]
    }
    ips <- cf$n / apply(tt, 2, median)
    row <- data.frame(model = cf$model, mode = cf$mode, threads = th, advtrain = ips[[1]],
                      gflops = ips[[1]] * fl / 1e9)
    for (v in names(variants)[-1]) row[[paste0("advtrain_", v)]] <- ips[[v]]
    if (all(c("double", "double_blas") %in% names(ips))) {
      row$own_over_blas <- ips[["double"]] / ips[["double_blas"]]
    }
    rows[[length(rows) + 1]] <- row
  }
}
res <- do.call(rbind, rows)
res$pct_peak <- 100 * res$gflops / peak

if (run_torch) {
  py <- "/usr/bin/python3"
  torch_rows <- list()
  for (th in 1:2) {
    out <- tryCatch(system2(py, c("bench/cnn_torch.py", th, reps), stdout = TRUE),
                    error = function(e) character(), warning = function(w) character())
    if (length(out) > 1) torch_rows[[th]] <- utils::read.csv(text = out)
  }
  if (length(torch_rows)) {
    tr <- do.call(rbind, torch_rows)
    get <- function(model, mode, th, dt) {
      v <- tr$images_per_second[tr$model == model & tr$mode == mode & tr$threads == th &
                                  tr$dtype == dt]
      if (length(v)) v else NA_real_
    }
    res$torch_f32 <- mapply(get, res$model, res$mode, res$threads, "float32")
    res$torch_f64 <- mapply(get, res$model, res$mode, res$threads, "float64")
    res$ratio_f32 <- res$advtrain / res$torch_f32
    res$ratio_f64 <- res$advtrain / res$torch_f64
    if (!is.null(res$advtrain_double)) {
      res$ratio_double_f32 <- res$advtrain_double / res$torch_f32
    }
  } else {
    cat("PyTorch not available (apt-get install python3-torch; it runs under /usr/bin/python3)\n")
  }
}
cat("images per second (median of", reps, "repeats; ratio > 1: advtrain faster)\n")
print(format(res, digits = 3), row.names = FALSE)
