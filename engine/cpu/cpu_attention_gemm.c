/* cpu_attention_gemm.c: the CPU backend's dense attention without mask or bias (the FLUX global
 * pass, the VAE mid-block) as blocked sgemm: scores of a block of query rows against every key,
 * an exact row softmax, then the product with the values. Scratch is bounded (16 MiB). */
#include <cblas.h>
#include <math.h>

#include "cpu_internal.h"

#define SCORE_FLOATS (4u << 20)

void
cpu_attention_gemm (SdBackend *be, const SdAttnArgs *a)
{
  const int d = a->head_dim, n_kv = a->n_kv;
  const int rb = MIN (CLAMP ((int) (SCORE_FLOATS / MAX (n_kv, 1)), 1, 256), MAX (a->n_q, 1));
  const gsize scratch = (gsize) rb * n_kv * sizeof (float) + rb * sizeof (float);
  float *s = g_new (float, (gsize) rb * n_kv), *inv = g_new (float, rb);
  int h, r0;

  be->bytes_in_use += scratch;
  be->peak_bytes = MAX (be->peak_bytes, be->bytes_in_use);
  for (h = 0; h < a->heads; h++)
    for (r0 = 0; r0 < a->n_q; r0 += rb)
      {
        const int m = MIN (rb, a->n_q - r0);
        float *o = cpu_ptr (a->out) + (gsize) r0 * a->out.ld + (gsize) h * d;
        int i;
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, m, n_kv, d, a->scale,
                     cpu_ptr (a->q) + (gsize) r0 * a->q.ld + (gsize) h * d, a->q.ld,
                     cpu_ptr (a->k) + (gsize) h * d, a->k.ld, 0.0f, s, n_kv);
#pragma omp parallel for schedule(static)
        for (i = 0; i < m; i++)
          {
            float *row = s + (gsize) i * n_kv, mx = -INFINITY;
            double sum = 0;
            int j;
            for (j = 0; j < n_kv; j++)
              mx = MAX (mx, row[j]);
            for (j = 0; j < n_kv; j++)
              {
                row[j] = expf (row[j] - mx);
                sum += row[j];
              }
            inv[i] = (float) (1.0 / sum);
          }
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, n_kv, 1.0f, s, n_kv,
                     cpu_ptr (a->v) + (gsize) h * d, a->v.ld, 0.0f, o, a->out.ld);
        for (i = 0; i < m; i++)
          {
            int c;
            for (c = 0; c < d; c++)
              o[(gsize) i * a->out.ld + c] *= inv[i];
          }
      }
  be->bytes_in_use -= scratch;
  g_free (s);
  g_free (inv);
}
