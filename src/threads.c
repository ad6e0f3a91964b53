/* OpenMP thread counts and what the processor offers. The package never calls
 * omp_set_num_threads(): every parallel region names num_threads(nth) with nth passed
 * from R (adv_threads()). C_threads_sitrep reports the kernel variant the loader picks
 * for ADV_CLONES functions, so a benchmark figure can be tied to the code that ran. */
#include "advtrain.h"
#include "vec.h"
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <stdint.h>
#include <sys/mman.h>
#endif

int adv_nthreads(SEXP threads) {
  int n = asInteger(threads);
  return (n == NA_INTEGER || n < 1) ? 1 : n;
}

/* c(openmp available, processors, omp thread limit) */
SEXP C_threads_info(void) {
  SEXP out = PROTECT(allocVector(INTSXP, 3));
#ifdef _OPENMP
  INTEGER(out)[0] = 1;
  INTEGER(out)[1] = omp_get_num_procs();
  INTEGER(out)[2] = omp_get_thread_limit();
#else
  INTEGER(out)[0] = 0;
  INTEGER(out)[1] = 1;
  INTEGER(out)[2] = 1;
#endif
  UNPROTECT(1);
  return out;
}

/* The clone of an ADV_CLONES kernel that runs here: the first target of ADV_CLONES'
 * list (highest priority first) that the processor supports, as glibc's resolver
 * chooses it; "none" where the kernels are not cloned. */
static const char *isa_variant(void) {
#if ADV_HAVE_CLONES
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "default";
#else
  return "none";
#endif
}

static int cpu_has(const char *what) {
#if ADV_HAVE_CLONES
  __builtin_cpu_init();
  if (!strcmp(what, "avx2")) return __builtin_cpu_supports("avx2");
  if (!strcmp(what, "fma")) return __builtin_cpu_supports("fma");
  if (!strcmp(what, "avx512f")) return __builtin_cpu_supports("avx512f");
#else
  (void)what;
#endif
  return NA_LOGICAL;
}

static double cache_bytes(int level) {
  long v = -1;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && \
    defined(_SC_LEVEL3_CACHE_SIZE)
  if (level == 1) v = sysconf(_SC_LEVEL1_DCACHE_SIZE);
  if (level == 2) v = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (level == 3) v = sysconf(_SC_LEVEL3_CACHE_SIZE);
#else
  (void)level;
#endif
  return v > 0 ? (double)v : NA_REAL;
}

/* list(isa, avx2, fma, avx512f, cache = c(L1d, L2, L3) in bytes) */
SEXP C_threads_sitrep(void) {
  SEXP out = PROTECT(allocVector(VECSXP, 5));
  SEXP nms = PROTECT(allocVector(STRSXP, 5));
  const char *names[] = {"isa", "avx2", "fma", "avx512f", "cache"};
  for (int i = 0; i < 5; i++) SET_STRING_ELT(nms, i, mkChar(names[i]));
  SET_VECTOR_ELT(out, 0, mkString(isa_variant()));
  SET_VECTOR_ELT(out, 1, ScalarLogical(cpu_has("avx2")));
  SET_VECTOR_ELT(out, 2, ScalarLogical(cpu_has("fma")));
  SET_VECTOR_ELT(out, 3, ScalarLogical(cpu_has("avx512f")));
  SEXP cache = PROTECT(allocVector(REALSXP, 3));
  for (int i = 0; i < 3; i++) REAL(cache)[i] = cache_bytes(i + 1);
  SET_VECTOR_ELT(out, 4, cache);
  setAttrib(out, R_NamesSymbol, nms);
  UNPROTECT(3);
  return out;
}

/* Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with transparent
 * huge pages (Linux, where THP is in "madvise" mode, Debian's default): a large fresh
 * allocation is then faulted in with 512 times fewer page faults, which on virtual
 * machines cost more than the writes that fill it (measured: the centred copy of a
 * 500 x 5000 x in C_lasso_prep). Only a hint; nothing changes where it is not
 * honoured, and the contents are not touched. */
void adv_hugepages(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t H = (uintptr_t)2 << 20;
  if (bytes < 2 * H) return;
  uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1), e = ((uintptr_t)p + bytes) & ~(H - 1);
  if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}
