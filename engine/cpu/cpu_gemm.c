/* cpu_gemm.c: the CPU backend's one GEMM: row-major sgemm split across the OpenMP threads, each
 * part run by single-threaded OpenBLAS, so that one thread pool does all the work (OpenBLAS's own
 * threads spinning beside OpenMP's made every op slower on few cores). */
#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"

/* Below this many rows (or columns) per part, splitting costs more than it saves. */
#define MIN_PART 16

void
cpu_sgemm (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc)
{
  const gboolean split_rows = M >= N;
  const int extent = split_rows ? M : N;
  const int parts = CLAMP (extent / MIN_PART, 1, omp_in_parallel () ? 1 : omp_get_max_threads ());
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  int part;

  if (M <= 0 || N <= 0)
    return;
#pragma omp parallel for schedule(static) if (parts > 1)
  for (part = 0; part < parts; part++)
    {
      const int lo = (int) ((gint64) extent * part / parts), hi = (int) ((gint64) extent * (part + 1) / parts);
      if (hi <= lo)
        continue;
      if (split_rows)
        cblas_sgemm (CblasRowMajor, ta, tb, hi - lo, N, K, alpha, A + (trans_a ? lo : (gsize) lo * lda), lda,
                     B, ldb, beta, C + (gsize) lo * ldc, ldc);
      else
        cblas_sgemm (CblasRowMajor, ta, tb, M, hi - lo, K, alpha, A, lda,
                     B + (trans_b ? (gsize) lo * ldb : lo), ldb, beta, C + lo, ldc);
    }
}
