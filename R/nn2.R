# Lazy two-layer networks (MATH.md section 6).

nn2_activations <- c("sigmoid", "linear", "relu")

# The numeric specification C reads: c(activation, slope, eps, norm, xi, attack, steps)
nn2_spec <- function(activation, slope, eps, norm, xi, attack = "fgm", pgd_steps = 1L) {
  c(match(activation, nn2_activations), slope, eps, norm_code(norm), xi,
    match(attack, c("fgm", "pgd")), pgd_steps)
}

# Outputs, attacks and gradients of the network at theta on the samples x (n x d).
# With want = FALSE only the clean outputs f.
nn2_eval <- function(x, y, theta, a, activation, slope = 1 / 4, eps = 0,
                     norm = "l2", xi = 0, attack = "fgm", pgd_steps = 1L,
                     want = TRUE, threads = 1L) {
  spec <- nn2_spec(activation, slope, eps, norm, xi, attack, pgd_steps)
  if (is.null(y)) y <- numeric(nrow(x))
  .Call(C_nn2_eval, t(x), as.double(y), theta, as.double(a), spec, want,
        as.integer(threads))
}
