/* cpu_attention.c: the CPU backend's attention: dense, causal (CLIP), with T5's relative bias,
 * or block-sparse over a Scale-DiT plan with the exact token mask on partial blocks. */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

#define DENSE_Q_BLOCK 64

typedef struct {
  int start, end;
  gboolean partial;
} KeyRange;

/* The key ranges query block qb visits; returns their count. */
static int
key_ranges (const SdAttnArgs *a, int qb, int q_block, KeyRange *out)
{
  const SdAttnPlan *p = a->plan;
  int i, n = 0;

  if (!p)
    {
      out[0].start = 0;
      out[0].end = a->causal ? MIN (a->n_kv, (qb + 1) * q_block) : a->n_kv;
      out[0].partial = FALSE;
      return 1;
    }
  for (i = p->row_start[qb]; i < p->row_start[qb + 1]; i++)
    {
      out[n].start = p->kblock[i] * p->k_block;
      out[n].end = MIN (a->n_kv, out[n].start + p->k_block);
      out[n].partial = p->partial[i];
      n++;
    }
  return n;
}

static void
attend_row (const SdAttnArgs *a, int h, int i, const KeyRange *ranges, int n_ranges, float *scores)
{
  const int d = a->head_dim;
  const float *q = cpu_ptr (a->q) + (gsize) i * a->q.ld + (gsize) h * d;
  float *o = cpu_ptr (a->out) + (gsize) i * a->out.ld + (gsize) h * d;
  const float *bias = a->bias_by_delta
                          ? a->bias_by_delta->data + (gsize) h * (a->n_q + a->n_kv - 1) + (a->n_q - 1)
                          : NULL;
  const SdAttnPlan *p = a->plan;
  float mx = -INFINITY;
  double sum = 0;
  int r, j, c, n = 0;

  for (r = 0; r < n_ranges; r++)
    for (j = ranges[r].start; j < ranges[r].end; j++, n++)
      {
        const float *k = cpu_ptr (a->k) + (gsize) j * a->k.ld + (gsize) h * d;
        float s = 0;
        if ((a->causal && j > i) || (ranges[r].partial && !sd_mask_allows (&p->rules, &p->tokens[i], &p->tokens[j])))
          {
            scores[n] = -INFINITY;
            continue;
          }
        for (c = 0; c < d; c++)
          s += q[c] * k[c];
        s *= a->scale;
        if (bias)
          s += bias[j - i];
        scores[n] = s;
        mx = MAX (mx, s);
      }
  for (c = 0; c < d; c++)
    o[c] = 0;
  if (mx == -INFINITY)
    return; /* no key allowed: a zero row */
  n = 0;
  for (r = 0; r < n_ranges; r++)
    for (j = ranges[r].start; j < ranges[r].end; j++, n++)
      {
        const float *v;
        float pj;
        if (scores[n] == -INFINITY)
          continue;
        pj = expf (scores[n] - mx);
        sum += pj;
        v = cpu_ptr (a->v) + (gsize) j * a->v.ld + (gsize) h * d;
        for (c = 0; c < d; c++)
          o[c] += pj * v[c];
      }
  for (c = 0; c < d; c++)
    o[c] = (float) (o[c] / sum);
}

void
cpu_attention (SdBackend *be, const SdAttnArgs *a)
{
  const int q_block = a->plan ? a->plan->q_block : DENSE_Q_BLOCK;
  const int n_qb = (a->n_q + q_block - 1) / q_block;
  const int max_ranges = a->plan ? a->plan->n_k_blocks : 1;
  int task;

  if (!a->plan && !a->causal && !a->bias_by_delta && a->n_kv > 0)
    {
      cpu_attention_gemm (be, a);
      return;
    }
#pragma omp parallel for schedule(dynamic)
  for (task = 0; task < n_qb * a->heads; task++)
    {
      int h = task % a->heads, qb = task / a->heads;
      KeyRange *ranges = g_new (KeyRange, max_ranges);
      int n_ranges = key_ranges (a, qb, q_block, ranges);
      float *scores = g_new (float, a->n_kv);
      int i;
      for (i = qb * q_block; i < MIN (a->n_q, (qb + 1) * q_block); i++)
        attend_row (a, h, i, ranges, n_ranges, scores);
      g_free (scores);
      g_free (ranges);
    }
}
