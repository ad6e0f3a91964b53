/* Registration of the .Call entry points; dynamic lookup is switched off. */
#include "advtrain.h"
#include <R_ext/Rdynload.h>

SEXP C_risk_surrogate(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_optimum_l2(SEXP, SEXP, SEXP, SEXP);
SEXP C_optimum_linf(SEXP, SEXP, SEXP, SEXP);
SEXP C_linear_attack(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_linear_loss(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_threads_info(void);
SEXP C_threads_sitrep(void);
SEXP C_cnn_train_epoch(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_cnn_forward(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_cnn_attack(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_cnn_grad(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_cnn_mm(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lm_gd(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lm_gd_weighted(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lm_power(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lm_exact(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lm_stream(SEXP, SEXP);
SEXP C_exact_certify(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_exact_gram(SEXP);
SEXP C_nn2_eval(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_nn2_train(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_nn2_kernels(SEXP);
SEXP C_lasso_path(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lasso_path_mu(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lasso_eps_path(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_logit_path(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lasso_surrogate(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_lasso_prep(SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP C_check_finite(SEXP);

/* the detour through void (*)(void) is the sanctioned generic function pointer */
/* Registered without the C_ prefix: useDynLib(.fixes = "C_") puts it back in R. */
#define CALLDEF(name, n) {#name, (DL_FUNC)(void (*)(void))&C_##name, n}

static const R_CallMethodDef call_methods[] = {
    CALLDEF(risk_surrogate, 5),
    CALLDEF(check_finite, 1),
    CALLDEF(optimum_l2, 4),
    CALLDEF(optimum_linf, 4),
    CALLDEF(linear_attack, 6),
    CALLDEF(linear_loss, 7),
    CALLDEF(threads_info, 0),
    CALLDEF(threads_sitrep, 0),
    CALLDEF(cnn_train_epoch, 10),
    CALLDEF(cnn_forward, 5),
    CALLDEF(cnn_attack, 9),
    CALLDEF(cnn_grad, 7),
    CALLDEF(cnn_mm, 5),
    CALLDEF(lm_gd, 5),
    CALLDEF(lm_gd_weighted, 6),
    CALLDEF(lm_power, 5),
    CALLDEF(lm_exact, 6),
    CALLDEF(lm_stream, 2),
    CALLDEF(exact_certify, 6),
    CALLDEF(exact_gram, 1),
    CALLDEF(nn2_eval, 7),
    CALLDEF(nn2_train, 10),
    CALLDEF(nn2_kernels, 1),
    CALLDEF(lasso_path, 9),
    CALLDEF(lasso_path_mu, 9),
    CALLDEF(lasso_eps_path, 11),
    CALLDEF(logit_path, 10),
    CALLDEF(lasso_surrogate, 7),
    CALLDEF(lasso_prep, 5),
    {NULL, NULL, 0}};

void R_init_advtrain(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
}
