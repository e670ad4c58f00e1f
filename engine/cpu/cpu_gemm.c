/* cpu_gemm.c: the CPU backend's one GEMM: row-major sgemm cut into parts spread across the
 * OpenMP threads, each part run by single-threaded OpenBLAS, so that one thread pool does all the
 * work (OpenBLAS's own threads spinning beside OpenMP's made every op slower on few cores). */
#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"

/* At least this many rows (or columns) per part, and at most MAX_PARTS parts. The parts depend on
 * the matrix sizes only, never on the thread count, so neither does the result. */
#define MIN_PART 256
#define MAX_PARTS 16

void
cpu_sgemm (gboolean trans_a, gboolean trans_b, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc)
{
  const gboolean split_rows = M >= N;
  const int extent = split_rows ? M : N;
  const int part_len = MAX (MIN_PART, ((extent + MAX_PARTS - 1) / MAX_PARTS + 63) / 64 * 64);
  const int parts = (extent + part_len - 1) / part_len;
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  int part;

  if (M <= 0 || N <= 0)
    return;
#pragma omp parallel for schedule(dynamic) if (parts > 1 && !omp_in_parallel ())
  for (part = 0; part < parts; part++)
    {
      const int lo = part * part_len, n = MIN (part_len, extent - lo);
      if (split_rows)
        cblas_sgemm (CblasRowMajor, ta, tb, n, N, K, alpha, A + (trans_a ? lo : (gsize) lo * lda), lda, B, ldb,
                     beta, C + (gsize) lo * ldc, ldc);
      else
        cblas_sgemm (CblasRowMajor, ta, tb, M, n, K, alpha, A, lda, B + (trans_b ? (gsize) lo * ldb : lo), ldb,
                     beta, C + lo, ldc);
    }
}
