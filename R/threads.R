the <- new.env(parent = emptyenv())

#' Number of threads used by advtrain
#'
#' `adv_threads()` reports the number of OpenMP threads that advtrain's C code uses;
#' `adv_threads(n)` sets it and invisibly returns the previous value. Every function
#' with a `threads` argument uses this value when `threads = NULL`.
#'
#' The default is taken, in this order, from the option `advtrain.threads`, the
#' environment variable `ADVTRAIN_THREADS`, and otherwise 2 (a modest default that
#' leaves cores free). It never exceeds the number of processors or
#' `OMP_THREAD_LIMIT`. The package never changes OpenMP's global setting
#' (`omp_set_num_threads()`); each parallel region asks for its own count. Results do
#' not depend on the thread count. Without OpenMP support the count is always 1.
#'
#' @param n A whole number of threads, at least 1.
#' @return `adv_threads()` returns the current count; `adv_threads(n)` returns the
#'   previous count invisibly.
#' @examples
#' old <- adv_threads(1)
#' adv_threads()
#' adv_threads(old)
#' @export
adv_threads <- function(n) {
  old <- cap_threads(if (is.null(the$threads)) default_threads() else the$threads)
  if (missing(n)) return(old)
  the$threads <- check_count(n, min = 1)
  invisible(old)
}

default_threads <- function() {
  opt <- getOption("advtrain.threads")
  if (!is.null(opt)) return(check_count(opt, arg = "options(advtrain.threads)"))
  env <- Sys.getenv("ADVTRAIN_THREADS")
  if (nzchar(env)) {
    v <- suppressWarnings(as.numeric(env))
    return(check_count(v, arg = "ADVTRAIN_THREADS"))
  }
  2L
}

cap_threads <- function(n) {
  info <- .Call(C_threads_info)
  if (info[1] == 0L) return(1L)
  limit <- suppressWarnings(as.integer(Sys.getenv("OMP_THREAD_LIMIT")))
  cap <- min(info[2], info[3], if (is.na(limit) || limit < 1) Inf else limit)
  as.integer(max(1, min(n, cap)))
}

# The thread count for one call: `threads = NULL` means adv_threads().
resolve_threads <- function(threads, call = rlang::caller_env()) {
  if (is.null(threads)) return(adv_threads())
  cap_threads(check_count(threads, min = 1, call = call))
}

#' What advtrain runs on: threads, kernel variant, caches, BLAS
#'
#' `advtrain_sitrep()` reports what decides advtrain's speed on this machine: the
#' processor, the variant of the vectorised C kernels that the loader chose for it
#' (`"avx2"` or `"default"` on x86-64 Linux with GCC, where the kernels are compiled
#' for both and the processor picks; `"none"` where they are compiled once), whether
#' the processor has AVX2, FMA and AVX-512, its cache sizes, the OpenMP thread count
#' ([adv_threads()]), and the BLAS and LAPACK that R uses (the CNN and a few linear
#' algebra steps call them). Every script in the package's `bench/` folder prints it,
#' so that a timing can be tied to the machine and code that produced it.
#'
#' @return An object of class `advtrain_sitrep`: a list with `cpu` (the model name,
#'   `NA` where it cannot be read), `isa`, `avx2`, `fma`, `avx512f`, `cache` (L1 data,
#'   L2 and L3 sizes in bytes of one cache of each level, as Linux reports them in
#'   sysfs, else as the C library's `sysconf()` does; `NA` where unknown), `openmp`, `threads`, `processors`,
#'   `blas`, `lapack` and `r`. Its `print()` method formats it.
#' @examples
#' advtrain_sitrep()
#' @export
advtrain_sitrep <- function() {
  info <- .Call(C_threads_info)
  isa <- .Call(C_threads_sitrep)
  si <- utils::sessionInfo()
  blas <- if (is.null(si$BLAS) || !nzchar(si$BLAS)) NA_character_ else si$BLAS
  lapack <- tryCatch(La_library(), error = function(e) NA_character_)
  if (!nzchar(lapack)) lapack <- NA_character_
  structure(list(
    cpu = cpu_model(), isa = isa$isa, avx2 = isa$avx2, fma = isa$fma,
    avx512f = isa$avx512f, cache = cache_sizes(isa$cache),
    openmp = info[1] == 1L, threads = adv_threads(), processors = info[2],
    blas = blas, lapack = lapack, r = R.version.string
  ), class = "advtrain_sitrep")
}

# Cache sizes in bytes (L1 data, L2, L3): what Linux reports in sysfs for cpu0 where it
# does, else the C library's sysconf() (sent in `fallback`). The two can disagree in
# virtual machines (glibc reads CPUID, which a hypervisor may fill differently from the
# topology it gives the kernel); sysfs is what lscpu shows.
cache_sizes <- function(fallback) {
  out <- stats::setNames(as.numeric(fallback), c("L1d", "L2", "L3"))
  dirs <- Sys.glob("/sys/devices/system/cpu/cpu0/cache/index*")
  for (d in dirs) {
    rd <- function(f) tryCatch(readLines(file.path(d, f), warn = FALSE)[1],
                               error = function(e) NA_character_, warning = function(w) NA_character_)
    level <- rd("level")
    type <- rd("type")
    size <- rd("size")
    if (anyNA(c(level, type, size)) || type == "Instruction") next
    key <- switch(level, "1" = if (type == "Data") "L1d", "2" = "L2", "3" = "L3", NULL)
    mult <- switch(sub("^[0-9]+", "", size), K = 1024, M = 1024^2, G = 1024^3, 1)
    b <- suppressWarnings(as.numeric(sub("[KMG]$", "", size))) * mult
    if (!is.null(key) && is.finite(b) && b > 0) out[[key]] <- b
  }
  out
}

cpu_model <- function() {
  if (file.exists("/proc/cpuinfo")) {
    lines <- tryCatch(readLines("/proc/cpuinfo", warn = FALSE), error = function(e) NULL)
    hit <- grep("^model name", lines, value = TRUE)
    if (length(hit)) return(trimws(sub("^[^:]*:", "", hit[1])))
  }
  NA_character_
}

#' @export
print.advtrain_sitrep <- function(x, ...) {
  size <- function(b) {
    if (is.na(b)) return("unknown")
    if (b >= 2^20) sprintf("%g MiB", b / 2^20) else sprintf("%g KiB", b / 2^10)
  }
  yn <- function(v) if (is.na(v)) "unknown" else if (v) "yes" else "no"
  cat(sprintf("advtrain %s on %s\n", utils::packageVersion("advtrain"), x$r))
  cat(sprintf("CPU:      %s\n", if (is.na(x$cpu)) "unknown" else x$cpu))
  cat(sprintf("kernels:  %s variant (AVX2 %s, FMA %s, AVX-512F %s)\n", x$isa,
              yn(x$avx2), yn(x$fma), yn(x$avx512f)))
  cat(sprintf("caches:   L1d %s, L2 %s, L3 %s\n", size(x$cache[["L1d"]]),
              size(x$cache[["L2"]]), size(x$cache[["L3"]])))
  cat(sprintf("threads:  %d (OpenMP %s, %d processors)\n", x$threads,
              if (x$openmp) "on" else "off", x$processors))
  cat(sprintf("BLAS:     %s\n", if (is.na(x$blas)) "unknown" else x$blas))
  cat(sprintf("LAPACK:   %s\n", if (is.na(x$lapack)) "unknown" else x$lapack))
  invisible(x)
}
