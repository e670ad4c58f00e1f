/* cpu_attention_gemm.c: the CPU backend's dense attention without mask or bias (the FLUX global
 * pass, the VAE mid-block) as blocked sgemm: scores of a block of query rows against every key,
 * an exact row softmax (and its log-sum-exp when asked), then the product with the values. The
 * (head, row block) tasks are spread over the OpenMP threads; scratch is bounded (16 MiB in all,
 * or one row of scores per thread). */
#include <cblas.h>
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"

#define SCORE_FLOATS (4u << 20)
#define MAX_ROW_BLOCK 256

void
cpu_attention_gemm (SdBackend *be, const SdAttnArgs *a)
{
  const int d = a->head_dim, n_kv = MAX (a->n_kv, 1);
  /* All threads' scores together stay within min(n_q, max(SCORE_FLOATS / n_kv, 1)) rows, the
   * bound the tiled VAE decode plans with. */
  const gsize rows_total = MAX (MIN ((gsize) a->n_q, SCORE_FLOATS / n_kv), 1);
  /* The row block does not depend on the thread count (nor, then, does the result): 64-row
   * multiples up to MAX_ROW_BLOCK, or all rows the bound allows when fewer. */
  const int rb = (int) (rows_total >= 64 ? MIN ((gsize) MAX_ROW_BLOCK, rows_total / 64 * 64) : rows_total);
  const int workers = (int) MAX (MIN ((gsize) omp_get_max_threads (), rows_total / rb), 1);
  const int n_rb = (a->n_q + rb - 1) / rb;
  const gsize scratch = (gsize) rb * n_kv * sizeof (float) * workers;
  int task;

  be->bytes_in_use += scratch;
  be->peak_bytes = MAX (be->peak_bytes, be->bytes_in_use);
#pragma omp parallel num_threads (workers)
  {
    float *s = g_new (float, (gsize) rb * n_kv), inv[MAX_ROW_BLOCK];
#pragma omp for schedule(dynamic)
    for (task = 0; task < a->heads * n_rb; task++)
      {
        const int h = task / n_rb, r0 = (task % n_rb) * rb, m = MIN (rb, a->n_q - r0);
        float *o = cpu_ptr (a->out) + (gsize) r0 * a->out.ld + (gsize) h * d;
        int i, j, c;
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, m, n_kv, d, a->scale,
                     cpu_ptr (a->q) + (gsize) r0 * a->q.ld + (gsize) h * d, a->q.ld,
                     cpu_ptr (a->k) + (gsize) h * d, a->k.ld, 0.0f, s, n_kv);
        for (i = 0; i < m; i++)
          {
            float *row = s + (gsize) i * n_kv, mx = -INFINITY;
            double sum = 0;
            for (j = 0; j < n_kv; j++)
              mx = MAX (mx, row[j]);
            for (j = 0; j < n_kv; j++)
              {
                row[j] = expf (row[j] - mx);
                sum += row[j];
              }
            inv[i] = (float) (1.0 / sum);
            if (a->lse)
              a->lse->data[(gsize) h * a->n_q + r0 + i] = mx + (float) log (sum);
          }
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, n_kv, 1.0f, s, n_kv,
                     cpu_ptr (a->v) + (gsize) h * d, a->v.ld, 0.0f, o, a->out.ld);
        for (i = 0; i < m; i++)
          for (c = 0; c < d; c++)
            o[(gsize) i * a->out.ld + c] *= inv[i];
      }
    g_free (s);
  }
  be->bytes_in_use -= scratch;
}
