test_that("inputs whose size would overflow or exhaust memory fail with a clear error", {
  expect_snapshot(error = TRUE, {
    simulate_linear(.Machine$integer.max, rep(1, 2))
    simulate_linear(2^31 + 5, 1)
  })
})
