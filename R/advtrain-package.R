#' advtrain: adversarial training of linear models and neural networks
#'
#' The population theory and algorithms of Xing, Song and Cheng (2021), *On the
#' Generalization Properties of Adversarial Training* (AISTATS, PMLR 130):
#'
#' * [adv_risk()]: the adversarial risk of a linear model under L2 (eq. 5) and
#'   L-infinity (eq. 9) attacks, and under the smoothed surrogate attack;
#' * [adv_optimum()]: the optimal robust estimator \eqn{\theta^*(\epsilon)} and the
#'   minimal risk \eqn{R^*(\epsilon)} (Propositions 1 and 8);
#' * [simulate_linear()]: data from the Gaussian linear model of the paper;
#' * [adv_attack()] and [adv_loss()]: the surrogate attack \eqn{A_{\epsilon,\xi}}, the
#'   attacked empirical loss and the fixed-attack gradient of the paper's Algorithm 1.
#'
#' Conventions (see the package's formula sheet): the input gradient of the squared
#' loss includes its factor 2, so the paper's appendix formulas, which drop it,
#' correspond to \eqn{\xi/2} here; with \eqn{\xi = 0} and a zero gradient no attack is
#' applied. Multi-threaded code uses [adv_threads()] threads.
#'
#' @keywords internal
#' @useDynLib advtrain, .registration = TRUE, .fixes = "C_"
"_PACKAGE"

# sqrt(2 / pi) = E|Z|, Z ~ N(0, 1)
c0 <- sqrt(2 / pi)

norm_code <- function(norm) if (norm == "l2") 1L else 2L

# The dual norm that the attack budget multiplies: ||theta||_2 for L2 attacks,
# ||theta||_1 for Linf attacks.
attack_norm <- function(theta, norm) {
  if (norm == "l2") sqrt(sum(theta^2)) else sum(abs(theta))
}
