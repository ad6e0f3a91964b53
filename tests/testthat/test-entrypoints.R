test_that("every registered .Call entry point has a smoke call", {
  routines <- getDLLRegisteredRoutines("advtrain")$.Call
  expect_setequal(names(routines), names(entry_args()))
})

test_that("each entry point returns finite numbers", {
  args <- entry_args()
  for (nm in names(args)) {
    res <- call_entry(nm, args[[nm]])
    # (lm_gd's `cap` echoes the stopping cap it was given, Inf when there is none)
    if (is.list(res) && identical(res$cap, Inf)) res$cap <- NULL
    # numeric leaves must be finite (NA marks "unknown", e.g. a cache size sysconf
    # cannot tell); an entry point that reports only text (the kernel variant) and
    # flags must still return something
    leaves <- function(v) if (is.list(v)) unlist(lapply(v, leaves))
                          else if (is.numeric(v) || is.logical(v)) as.numeric(v)
    out <- leaves(res)
    expect_true(length(out) > 0 && all(is.finite(out[!is.na(out)])), label = nm)
  }
})

test_that("entry points survive gctorture (PROTECT mistakes)", {
  skip_if_not(identical(Sys.getenv("ADVTRAIN_GCTORTURE"), "true"),
              "set ADVTRAIN_GCTORTURE=true (make check-gctorture)")
  args <- entry_args()
  for (nm in names(args)) {
    set.seed(1) # some entry points draw random numbers (attack starts)
    ref <- call_entry(nm, args[[nm]])
    set.seed(1)
    gctorture(TRUE)
    out <- call_entry(nm, args[[nm]])
    gctorture(FALSE)
    expect_identical(out, ref, label = nm)
  }
})
