/* cuda_attention_generic.cu: attention for the head dims and layouts the fused kernel does not take
 * (the small test models: head dims 16, 32, ...): one warp per query and head, keys 32 at a time,
 * online softmax in f32; dense, causal, T5's relative bias or over a plan's blocks with the token
 * mask on partial ones; dense ones can write each row's log-sum-exp. Also the op table's entry
 * that picks the path. */
#include "cuda_vec.cuh"

#define WARPS 4
#define MAX_DIM 256

typedef struct {
  const bf16 *q, *k, *v, *bias;
  bf16 *out;
  long ldq, ldk, ldv, ldo;
  int n_q, n_kv, heads, d;
  float scale;
  int causal;
  /* plan (row_start NULL: dense) */
  const int *row_start, *kblock;
  const unsigned char *partial;
  const SdTokenPos *tokens;
  SdMaskRules rules;
  int q_block, k_block;
  float *lse; /* [heads][n_q], or NULL */
} GenParams;

/* Keys [j0, j1) of one range, `partial` applying the token mask. */
static __device__ void
attend_range (const GenParams &p, int i, int h, int j0, int j1, bool partial, const float *q, float *acc,
              float *ps, float &m, float &l)
{
  const int lane = threadIdx.x & 31;
  for (int jb = j0; jb < j1; jb += 32)
    {
      const int j = jb + lane;
      float s = -INFINITY;
      bool ok = j < j1 && !(p.causal && j > i);
      if (ok && partial)
        ok = sd_mask_allows (&p.rules, &p.tokens[i], &p.tokens[j]);
      if (ok)
        {
          const bf16 *kr = p.k + j * p.ldk + (long) h * p.d;
          float dot = 0;
          for (int c = 0; c < p.d; c++)
            dot += q[c] * __bfloat162float (kr[c]);
          s = dot * p.scale;
          if (p.bias)
            s += __bfloat162float (p.bias[(long) h * (p.n_q + p.n_kv - 1) + (j - i) + p.n_q - 1]);
        }
      float mx = s;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
        mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, o));
      const float m_new = fmaxf (m, mx);
      if (m_new == -INFINITY)
        continue; /* nothing allowed yet */
      const float alpha = m == -INFINITY ? 0.0f : __expf (m - m_new);
      const float pj = s == -INFINITY ? 0.0f : __expf (s - m_new);
      float sum = pj;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
        sum += __shfl_xor_sync (0xffffffffu, sum, o);
      l = l * alpha + sum;
      m = m_new;
      const int n = min (32, j1 - jb);
      ps[lane] = pj;
      __syncwarp ();
      for (int c = lane; c < p.d; c += 32)
        {
          float acc_c = acc[c] * alpha;
          for (int t = 0; t < n; t++)
            if (ps[t] != 0.0f)
              acc_c += ps[t] * __bfloat162float (p.v[(long) (jb + t) * p.ldv + (long) h * p.d + c]);
          acc[c] = acc_c;
        }
      __syncwarp ();
    }
}

static __global__ void __launch_bounds__ (32 * WARPS)
generic_kernel (GenParams p)
{
  __shared__ float qs[WARPS][MAX_DIM], accs[WARPS][MAX_DIM], pss[WARPS][32];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i = blockIdx.x * WARPS + warp, h = blockIdx.y;
  float *q = qs[warp], *acc = accs[warp], *ps = pss[warp];
  float m = -INFINITY, l = 0;

  if (i >= p.n_q)
    return;
  for (int c = lane; c < p.d; c += 32)
    {
      q[c] = __bfloat162float (p.q[i * p.ldq + (long) h * p.d + c]);
      acc[c] = 0;
    }
  __syncwarp ();
  if (p.row_start)
    {
      const int qb = i / p.q_block;
      for (int b = p.row_start[qb]; b < p.row_start[qb + 1]; b++)
        {
          const int j0 = p.kblock[b] * p.k_block;
          attend_range (p, i, h, j0, min (j0 + p.k_block, p.n_kv), p.partial[b] != 0, q, acc, ps, m, l);
        }
    }
  else
    attend_range (p, i, h, 0, p.causal ? min (i + 1, p.n_kv) : p.n_kv, false, q, acc, ps, m, l);
  __syncwarp ();
  for (int c = lane; c < p.d; c += 32)
    p.out[i * p.ldo + (long) h * p.d + c] = __float2bfloat16_rn (l > 0 ? acc[c] / l : 0.0f);
  if (p.lse && lane == 0)
    p.lse[(long) h * p.n_q + i] = l > 0 ? m + logf (l) : -INFINITY;
}

void
cu_attention_generic (SdBackend *be, const SdAttnArgs *a)
{
  CuBackend *cb = cu_backend (be);
  const SdAttnPlan *plan = a->plan;
  GenParams p = {};

  if (a->n_q <= 0 || a->heads <= 0)
    return;
  if (a->head_dim <= 0 || a->head_dim > MAX_DIM || a->heads > 65535)
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "attention: head_dim %d with %d heads (the CUDA backend takes 64, 128 and 512 in its fused "
                 "kernel and up to %d otherwise)", a->head_dim, a->heads, MAX_DIM);
      return;
    }
  if (a->lse && (plan || a->causal || a->bias_by_delta))
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED, "attention: log-sum-exps are written by dense attention only");
      return;
    }
  if (plan && (plan->n_tokens != a->n_q || plan->n_tokens != a->n_kv || !plan->tokens))
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "attention: a plan of %d tokens for %d queries and %d keys", plan->n_tokens,
                 a->n_q, a->n_kv);
      return;
    }
  p.q = cu_ptr (a->q);
  p.k = cu_ptr (a->k);
  p.v = cu_ptr (a->v);
  p.out = cu_ptr (a->out);
  p.ldq = a->q.ld;
  p.ldk = a->k.ld;
  p.ldv = a->v.ld;
  p.ldo = a->out.ld;
  p.n_q = a->n_q;
  p.n_kv = a->n_kv;
  p.heads = a->heads;
  p.d = a->head_dim;
  p.scale = a->scale;
  p.causal = a->causal;
  p.bias = a->bias_by_delta ? a->bias_by_delta->ptr : NULL;
  p.lse = a->lse ? (float *) a->lse->ptr : NULL;
  if (plan)
    {
      const CuPlanDevice *d = cu_plan_get (cb, plan, a->heads, plan->q_block);
      if (!d)
        return;
      p.row_start = d->row_start;
      p.kblock = d->kblock;
      p.partial = d->partial;
      p.tokens = d->tokens;
      p.rules = plan->rules;
      p.q_block = plan->q_block;
      p.k_block = plan->k_block;
    }
  generic_kernel<<<dim3 ((a->n_q + WARPS - 1) / WARPS, a->heads), 32 * WARPS, 0, cb->stream>>> (p);
  cu_check (cb, cudaGetLastError (), "attention (generic path)");
}

static bool
fused_view (SdView v)
{
  return v.off % 8 == 0 && v.ld % 8 == 0;
}

void
cu_attention_any (SdBackend *be, const SdAttnArgs *a)
{
  const int d = a->head_dim;
  /* of the fused kernels only the wide one writes log-sum-exps */
  if ((d == 512 || ((d == 64 || d == 128) && !a->lse)) && fused_view (a->q) && fused_view (a->k) && fused_view (a->v)
      && fused_view (a->out))
    cu_attention (be, a);
  else
    cu_attention_generic (be, a);
}
