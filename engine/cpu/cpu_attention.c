/* cpu_attention.c: the CPU backend's attention: dense, causal (CLIP), with T5's relative bias,
 * or block-sparse over a Scale-DiT plan with the exact token mask on partial blocks. Each query
 * block's scores against the key ranges it visits come from sgemm, one task per query block. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

#define DENSE_Q_BLOCK 64

typedef struct {
  int start, end;
  gboolean partial;
} KeyRange;

/* The key ranges query block qb visits, adjacent ones of the same kind merged; returns their
 * count. */
static int
key_ranges (const SdAttnArgs *a, int qb, int q_block, KeyRange *out)
{
  const SdAttnPlan *p = a->plan;
  int i, n = 0;

  if (!p)
    {
      out[0].start = 0;
      out[0].end = a->causal ? MIN (a->n_kv, (qb + 1) * q_block) : a->n_kv;
      out[0].partial = a->causal && out[0].end > qb * q_block;
      return 1;
    }
  for (i = p->row_start[qb]; i < p->row_start[qb + 1]; i++)
    {
      int start = p->kblock[i] * p->k_block, end = MIN (a->n_kv, start + p->k_block);
      gboolean partial = p->partial[i] != 0;
      if (n > 0 && out[n - 1].end == start && out[n - 1].partial == partial)
        out[n - 1].end = end;
      else
        {
          out[n].start = start;
          out[n].end = end;
          out[n].partial = partial;
          n++;
        }
    }
  return n;
}

/* allowed[r * n + c]: may query row q0 + r attend to the c-th visited key (same for all heads). */
static void
fill_allowed (const SdAttnArgs *a, int q0, int m, const KeyRange *ranges, int n_ranges, int n,
              guint8 *allowed)
{
  const SdAttnPlan *p = a->plan;
  int r, i, j, off = 0;

  for (i = 0; i < n_ranges; i++)
    {
      const int len = ranges[i].end - ranges[i].start;
      for (r = 0; r < m; r++)
        {
          guint8 *row = allowed + (gsize) r * n + off;
          const int qi = q0 + r;
          if (!ranges[i].partial)
            memset (row, 1, len);
          else
            for (j = ranges[i].start; j < ranges[i].end; j++)
              row[j - ranges[i].start]
                  = a->causal ? j <= qi : sd_mask_allows (&p->rules, &p->tokens[qi], &p->tokens[j]);
        }
      off += len;
    }
}

/* One head of one query block: scores by sgemm, mask and bias, exact row softmax, P V by sgemm. */
static void
attend_block (const SdAttnArgs *a, int h, int q0, int m, const KeyRange *ranges, int n_ranges, int n,
              const guint8 *allowed, float *s, float *inv)
{
  const int d = a->head_dim;
  const float *q = cpu_ptr (a->q) + (gsize) q0 * a->q.ld + (gsize) h * d;
  float *o = cpu_ptr (a->out) + (gsize) q0 * a->out.ld + (gsize) h * d;
  const float *bias = a->bias_by_delta
                          ? a->bias_by_delta->data + (gsize) h * (a->n_q + a->n_kv - 1) + (a->n_q - 1)
                          : NULL;
  int i, r, c, off = 0;

  for (i = 0; i < n_ranges; i++)
    {
      const int len = ranges[i].end - ranges[i].start;
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, m, len, d, a->scale, q, a->q.ld,
                   cpu_ptr (a->k) + (gsize) ranges[i].start * a->k.ld + (gsize) h * d, a->k.ld, 0.0f,
                   s + off, n);
      if (bias)
        for (r = 0; r < m; r++)
          for (c = 0; c < len; c++)
            s[(gsize) r * n + off + c] += bias[ranges[i].start + c - (q0 + r)];
      off += len;
    }
  for (r = 0; r < m; r++)
    {
      float *row = s + (gsize) r * n, mx = -INFINITY;
      const guint8 *ok = allowed ? allowed + (gsize) r * n : NULL;
      double sum = 0;
      for (c = 0; c < n; c++)
        {
          if (ok && !ok[c])
            row[c] = -INFINITY;
          mx = MAX (mx, row[c]);
        }
      if (mx == -INFINITY)
        {
          memset (row, 0, n * sizeof (float)); /* no key allowed: a zero row */
          inv[r] = 0.0f;
          continue;
        }
      for (c = 0; c < n; c++)
        {
          row[c] = expf (row[c] - mx);
          sum += row[c];
        }
      inv[r] = (float) (1.0 / sum);
    }
  off = 0;
  for (i = 0; i < n_ranges; i++)
    {
      const int len = ranges[i].end - ranges[i].start;
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, d, len, 1.0f, s + off, n,
                   cpu_ptr (a->v) + (gsize) ranges[i].start * a->v.ld + (gsize) h * d, a->v.ld,
                   i ? 1.0f : 0.0f, o, a->out.ld);
      off += len;
    }
  if (n_ranges == 0)
    for (r = 0; r < m; r++)
      memset (o + (gsize) r * a->out.ld, 0, d * sizeof (float));
  for (r = 0; r < m; r++)
    for (c = 0; c < d; c++)
      o[(gsize) r * a->out.ld + c] *= inv[r];
}

void
cpu_attention (SdBackend *be, const SdAttnArgs *a)
{
  const int q_block = a->plan ? a->plan->q_block : DENSE_Q_BLOCK;
  const int n_qb = (a->n_q + q_block - 1) / q_block;
  const int max_ranges = a->plan ? a->plan->n_k_blocks : 1;
  int qb;

  if (!a->plan && !a->causal && !a->bias_by_delta && a->n_kv > 0)
    {
      cpu_attention_gemm (be, a);
      return;
    }
  /* The tasks run in parallel; each one's small GEMMs run on its own thread. */
#pragma omp parallel for schedule(dynamic)
  for (qb = 0; qb < n_qb; qb++)
    {
      const int q0 = qb * q_block, m = MIN (a->n_q, q0 + q_block) - q0;
      KeyRange *ranges = g_new (KeyRange, max_ranges);
      const int n_ranges = key_ranges (a, qb, q_block, ranges);
      gboolean any_partial = FALSE;
      guint8 *allowed = NULL;
      float *s, *inv = g_new (float, m);
      int i, n = 0, h;
      for (i = 0; i < n_ranges; i++)
        {
          n += ranges[i].end - ranges[i].start;
          any_partial |= ranges[i].partial;
        }
      s = g_new (float, (gsize) m * MAX (n, 1));
      if (any_partial)
        {
          allowed = g_new (guint8, (gsize) m * n);
          fill_allowed (a, q0, m, ranges, n_ranges, n, allowed);
        }
      for (h = 0; h < a->heads; h++)
        attend_block (a, h, q0, m, ranges, n_ranges, n, allowed, s, inv);
      g_free (allowed);
      g_free (s);
      g_free (inv);
      g_free (ranges);
    }
  if (a->lse) /* no keys: zero rows, whose log-sum-exp is -inf */
    for (qb = 0; qb < a->heads * a->n_q; qb++)
      a->lse->data[qb] = -INFINITY;
  (void) be;
}
