/* cuda_attention.cu: the attention entry point (checks, plan upload, choice of kernel) and the
 * portable fused kernel for sm_80/86/89 (flash-attention style, bf16 mma.sync m16n8k16, f32 online
 * softmax): dense, causal (CLIP), with T5's relative bias, or block-sparse over a Scale-DiT plan,
 * applying the token mask only inside partial blocks. On sm_90a the Hopper kernel
 * (cuda_attention_sm90.cu) runs instead, and head dim 512 (the VAE) goes to cuda_attention_wide.cu;
 * SCALEDIT_ATTENTION=mma forces this kernel (for comparison).
 *
 * One CTA of 4 warps takes a 128-query tile of one head (32 rows per warp, Q in shared memory)
 * and streams 64-key K/V tiles through shared memory with cp.async, two stages deep; two CTAs
 * share a multiprocessor. With a plan the tile visits the key blocks its query block lists and
 * reads the token mask of partial tiles as precomputed bits (cuda_plan.cu); plans need q_block a
 * multiple of 128 and k_block a multiple of 64. Head dims 64 and 128 (512 in the wide kernel);
 * q/k/v/out offsets and row strides must be multiples of 8 elements (16-byte rows). */
#include <math.h>
#include <string.h>

#include "cuda_attention.h"
#include "cuda_mma.cuh"

#define BM ATTN_MMA_BM
#define BN 64
#define MT 2                        /* 16-row m-tiles per warp */
#define NWARPS (BM / (16 * MT))
#define NTHREADS (NWARPS * 32)

/* MODE: 0 dense (ragged ends only), 1 plan, 2 causal and/or bias. */
template <int D, int MODE>
static __global__ void __launch_bounds__ (NTHREADS, 2)
attention_kernel (AttnParams p)
{
  constexpr int TILE = BN * D * 2;   /* bytes of one K or V tile */
  constexpr int KD = D / 16;         /* k-steps over the head dim */
  constexpr int ND = D / 8;          /* 8-wide output column tiles */
  extern __shared__ __align__ (128) char smem[];
  /* Stage s: K at s * 2 * TILE, V right after it; Q after both stages. */
#define STAGE_K(s) (smem + (s) * 2 * TILE)
#define STAGE_V(s) (smem + (s) * 2 * TILE + TILE)
  char *sq = smem + 4 * TILE;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  int qt, head;
  if (MODE == 1)
    {
      int item = p.order[blockIdx.x];
      qt = item / p.heads;
      head = item % p.heads;
    }
  else
    {
      head = blockIdx.x / p.n_qtiles;
      qt = blockIdx.x % p.n_qtiles;
      if (MODE == 2 && p.causal)
        qt = p.n_qtiles - 1 - qt;
    }
  const int q0 = qt * BM;
  const bf16 *kbase = p.k + (long) head * D, *vbase = p.v + (long) head * D;

  int e0 = 0, per_entry = 1, n_tiles, mask_row0 = 0;
  if (MODE == 1)
    {
      int b = q0 / p.q_block;
      e0 = p.row_start[b];
      per_entry = p.k_block / BN;
      n_tiles = (p.row_start[b + 1] - e0) * per_entry;
      mask_row0 = q0 - b * p.q_block;
    }
  else
    {
      int end = MODE == 2 && p.causal ? min (p.n_kv, q0 + BM) : p.n_kv;
      n_tiles = (end + BN - 1) / BN;
    }

  /* Q, then the first K/V tile. */
  load_tile<D, NTHREADS> (sq, p.q + (long) head * D, p.ldq, q0, BM, p.n_q);
  int next_mask = -1;
  int next_start = n_tiles > 0 ? attn_tile_start<MODE == 1, BN> (p, e0, per_entry, 0, &next_mask) : 0;
  if (n_tiles > 0)
    {
      load_tile<D, NTHREADS> (STAGE_K (0), kbase, p.ldk, next_start, BN, p.n_kv);
      load_tile<D, NTHREADS> (STAGE_V (0), vbase, p.ldv, next_start, BN, p.n_kv);
    }
  cp_async_commit ();

  float o[MT][ND][4];
#pragma unroll
  for (int m = 0; m < MT; m++)
#pragma unroll
    for (int n = 0; n < ND; n++)
      o[m][n][0] = o[m][n][1] = o[m][n][2] = o[m][n][3] = 0;
  float m_run[MT][2], l_run[MT][2];
#pragma unroll
  for (int m = 0; m < MT; m++)
    m_run[m][0] = m_run[m][1] = -INFINITY, l_run[m][0] = l_run[m][1] = 0;
  const int wrow = warp * 16 * MT; /* this warp's first row in the tile */

  for (int i = 0; i < n_tiles; i++)
    {
      const int st = i & 1;
      const int kstart = next_start, mask_tile = next_mask;
      if (i + 1 < n_tiles)
        {
          next_start = attn_tile_start<MODE == 1, BN> (p, e0, per_entry, i + 1, &next_mask);
          load_tile<D, NTHREADS> (STAGE_K (st ^ 1), kbase, p.ldk, next_start, BN, p.n_kv);
          load_tile<D, NTHREADS> (STAGE_V (st ^ 1), vbase, p.ldv, next_start, BN, p.n_kv);
        }
      cp_async_commit ();
      /* this thread's 16 columns of each of its mask rows, reduced to bits before the barrier so
       * that only 32 bits per m-tile stay live: bit 2j + b is column j * 8 + 2t + b */
      unsigned bits[MT] = {};
      if (MODE == 1 && mask_tile >= 0)
        {
          const unsigned long long *mrow = p.mask + (long) mask_tile * p.q_block + mask_row0 + wrow + g;
#pragma unroll
          for (int m = 0; m < MT; m++)
            {
              const unsigned long long r0 = mrow[m * 16], r1 = mrow[m * 16 + 8];
#pragma unroll
              for (int j = 0; j < 8; j++)
                bits[m] |= (unsigned) ((r0 >> (j * 8 + 2 * t)) & 3) << (2 * j)
                           | (unsigned) ((r1 >> (j * 8 + 2 * t)) & 3) << (16 + 2 * j);
            }
        }
      cp_async_wait<1> ();
      __syncthreads ();

      /* S = Q K^T for this warp's rows and the tile's 64 keys. */
      float s[MT][8][4];
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int j = 0; j < 8; j++)
          s[m][j][0] = s[m][j][1] = s[m][j][2] = s[m][j][3] = 0;
#pragma unroll
      for (int kk = 0; kk < KD; kk++)
        {
          unsigned qa[MT][4];
#pragma unroll
          for (int m = 0; m < MT; m++)
            ldsm_x4 (qa[m], sq + swz<D> (wrow + m * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, kk * 2 + (lane >> 4)));
#pragma unroll
          for (int jp = 0; jp < 4; jp++)
            {
              unsigned b[4];
              ldsm_x4 (b, STAGE_K (st) + swz<D> (jp * 16 + (lane & 7) + ((lane >> 4) << 3),
                                                  kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
              for (int m = 0; m < MT; m++)
                {
                  mma_bf16 (s[m][2 * jp], qa[m], b[0], b[1]);
                  mma_bf16 (s[m][2 * jp + 1], qa[m], b[2], b[3]);
                }
            }
        }

      /* Scale to log2 units; mask only where some pair of the tile may be excluded. */
      const bool elementwise = (MODE == 1 && mask_tile >= 0) || kstart + BN > p.n_kv
                               || (MODE == 2 && (p.bias || (p.causal && kstart + BN - 1 > q0)));
#pragma unroll
      for (int m = 0; m < MT; m++)
#pragma unroll
        for (int j = 0; j < 8; j++)
#pragma unroll
          for (int e = 0; e < 4; e++)
            {
              float x = s[m][j][e] * p.scale_log2;
              if (elementwise)
                {
                  int c = j * 8 + 2 * t + (e & 1);
                  int row = q0 + wrow + m * 16 + g + (e >> 1) * 8, col = kstart + c;
                  bool ok = col < p.n_kv && row < p.n_q;
                  if (MODE == 2 && p.causal)
                    ok = ok && col <= row;
                  if (MODE == 1 && mask_tile >= 0)
                    ok = ok && ((bits[m] >> ((e >> 1) * 16 + 2 * j + (e & 1))) & 1);
                  if (!ok)
                    x = -INFINITY;
                  else if (MODE == 2 && p.bias)
                    x += __bfloat162float (p.bias[(long) head * (p.n_q + p.n_kv - 1) + (col - row) + p.n_q - 1]) * ATTN_LOG2E;
                }
              s[m][j][e] = x;
            }

      /* Online softmax: two rows per m-tile per thread, reduced over the quad that shares them. */
#pragma unroll
      for (int m = 0; m < MT; m++)
        {
          float corr[2];
#pragma unroll
          for (int r = 0; r < 2; r++)
            {
              float mx = -INFINITY;
#pragma unroll
              for (int j = 0; j < 8; j++)
                mx = fmaxf (mx, fmaxf (s[m][j][2 * r], s[m][j][2 * r + 1]));
              mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 1));
              mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 2));
              float m_new = fmaxf (m_run[m][r], mx);
              float base = m_new == -INFINITY ? 0.0f : m_new;
              corr[r] = fast_exp2 (m_run[m][r] - base);
              m_run[m][r] = m_new;
              float sum = 0;
#pragma unroll
              for (int j = 0; j < 8; j++)
                {
                  s[m][j][2 * r] = fast_exp2 (s[m][j][2 * r] - base);
                  s[m][j][2 * r + 1] = fast_exp2 (s[m][j][2 * r + 1] - base);
                  sum += s[m][j][2 * r] + s[m][j][2 * r + 1];
                }
              l_run[m][r] = l_run[m][r] * corr[r] + sum;
            }
#pragma unroll
          for (int n = 0; n < ND; n++)
            {
              o[m][n][0] *= corr[0];
              o[m][n][1] *= corr[0];
              o[m][n][2] *= corr[1];
              o[m][n][3] *= corr[1];
            }
        }

      /* O += P V, P taken straight from the S accumulators as A fragments. */
#pragma unroll
      for (int kk = 0; kk < 4; kk++)
        {
          unsigned a[MT][4];
#pragma unroll
          for (int m = 0; m < MT; m++)
            {
              a[m][0] = pack_bf16 (s[m][2 * kk][0], s[m][2 * kk][1]);
              a[m][1] = pack_bf16 (s[m][2 * kk][2], s[m][2 * kk][3]);
              a[m][2] = pack_bf16 (s[m][2 * kk + 1][0], s[m][2 * kk + 1][1]);
              a[m][3] = pack_bf16 (s[m][2 * kk + 1][2], s[m][2 * kk + 1][3]);
            }
#pragma unroll
          for (int jd = 0; jd < D / 16; jd++)
            {
              unsigned b[4];
              ldsm_x4_trans (b, STAGE_V (st) + swz<D> (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                                        jd * 2 + (lane >> 4)));
#pragma unroll
              for (int m = 0; m < MT; m++)
                {
                  mma_bf16 (o[m][2 * jd], a[m], b[0], b[1]);
                  mma_bf16 (o[m][2 * jd + 1], a[m], b[2], b[3]);
                }
            }
        }
      __syncthreads (); /* the stage is overwritten by the next iteration's loads */
    }
  cp_async_wait<0> ();
  __syncthreads ();

  /* Normalize (rows with no allowed key stay zero) and stage through this warp's rows of sq. */
#pragma unroll
  for (int m = 0; m < MT; m++)
    {
      float inv[2];
#pragma unroll
      for (int r = 0; r < 2; r++)
        {
          float l = l_run[m][r];
          l += __shfl_xor_sync (0xffffffffu, l, 1);
          l += __shfl_xor_sync (0xffffffffu, l, 2);
          inv[r] = l > 0 ? 1.0f / l : 0.0f;
        }
      const int r0 = wrow + m * 16 + g;
#pragma unroll
      for (int n = 0; n < ND; n++)
        {
          *reinterpret_cast<unsigned *> (sq + swz<D> (r0, n) + 4 * t) = pack_bf16 (o[m][n][0] * inv[0], o[m][n][1] * inv[0]);
          *reinterpret_cast<unsigned *> (sq + swz<D> (r0 + 8, n) + 4 * t) = pack_bf16 (o[m][n][2] * inv[1], o[m][n][3] * inv[1]);
        }
    }
  __syncwarp ();
  bf16 *obase = p.out + (long) head * D;
  for (int i = lane; i < 16 * MT * ND; i += 32)
    {
      int r = wrow + i / ND, ch = i % ND;
      if (q0 + r < p.n_q)
        *reinterpret_cast<uint4 *> (obase + (q0 + r) * p.ldo + ch * 8) = *reinterpret_cast<const uint4 *> (sq + swz<D> (r, ch));
    }
#undef STAGE_K
#undef STAGE_V
}

template <int D, int MODE>
static void
launch_mode (CuBackend *cb, const AttnParams &p, unsigned grid)
{
  const int smem = 4 * BN * D * 2 + BM * D * 2;
  static int configured = 0;
  if (!configured)
    {
      cudaFuncSetAttribute (attention_kernel<D, MODE>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      configured = 1;
    }
  attention_kernel<D, MODE><<<grid, NTHREADS, smem, cb->stream>>> (p);
}

template <int D>
static void
launch (CuBackend *cb, const AttnParams &p, unsigned grid)
{
  if (p.row_start)
    launch_mode<D, 1> (cb, p, grid);
  else if (p.causal || p.bias)
    launch_mode<D, 2> (cb, p, grid);
  else
    launch_mode<D, 0> (cb, p, grid);
}

void
cu_attention_mma (CuBackend *cb, const AttnParams &p, int head_dim, unsigned grid)
{
  if (head_dim == 64)
    launch<64> (cb, p, grid);
  else
    launch<128> (cb, p, grid);
}

static gboolean
view_ok (SdView v)
{
  return v.buf && v.off % 8 == 0 && v.ld % 8 == 0;
}

/* The portable kernel when SCALEDIT_ATTENTION=mma asks for it or the Hopper one is not there. */
static gboolean
use_sm90 (CuBackend *cb)
{
  const char *force = g_getenv ("SCALEDIT_ATTENTION");
  if (force && strcmp (force, "mma") == 0)
    return FALSE;
  return cu_attention_sm90_available (cb);
}

void
cu_attention (SdBackend *be, const SdAttnArgs *a)
{
  CuBackend *cb = cu_backend (be);
  const SdAttnPlan *plan = a->plan;
  const gboolean wide = a->head_dim == 512;
  const gboolean sm90 = !wide && a->n_kv > 0 && use_sm90 (cb);
  const int bm = wide ? ATTN_WIDE_BM : sm90 ? ATTN_SM90_BM : ATTN_MMA_BM;
  AttnParams p = {};
  unsigned grid;

  if (a->n_q <= 0 || a->heads <= 0)
    return;
  if (a->head_dim != 64 && a->head_dim != 128 && !wide)
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED, "attention: head_dim %d (the CUDA kernels take 64, 128 and 512)",
                 a->head_dim);
      return;
    }
  if (a->lse && (!wide || plan || a->causal || a->bias_by_delta))
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "attention: log-sum-exps are written by dense attention only, in the fused kernel at "
                 "head dim 512 (the generic path at other head dims)");
      return;
    }
  if (wide && (plan || a->causal || a->bias_by_delta))
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "attention: head_dim 512 runs dense only (no plan, causal mask or bias)");
      return;
    }
  if (!view_ok (a->q) || !view_ok (a->k) || !view_ok (a->v) || !view_ok (a->out))
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "attention: q/k/v/out offsets and row strides must be multiples of 8 elements");
      return;
    }
  if (plan && (plan->q_block % bm || plan->k_block % 64 || plan->n_tokens != a->n_q
               || plan->n_tokens != a->n_kv || !plan->tokens))
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "attention: plan of %d tokens in %dx%d blocks for %d queries and %d keys (the CUDA kernel "
                 "needs q_block a multiple of %d, k_block a multiple of 64, and n_q = n_kv = n_tokens)",
                 plan->n_tokens, plan->q_block, plan->k_block, a->n_q, a->n_kv, bm);
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
  p.n_qtiles = (a->n_q + bm - 1) / bm;
  p.scale_log2 = a->scale * ATTN_LOG2E;
  p.causal = a->causal;
  p.bias = a->bias_by_delta ? a->bias_by_delta->ptr : NULL;
  p.lse = a->lse ? (float *) a->lse->ptr : NULL;
  grid = (unsigned) p.n_qtiles * a->heads;
  if (plan)
    {
      const CuPlanDevice *d = cu_plan_get (cb, plan, a->heads, bm);
      if (!d)
        return;
      p.row_start = d->row_start;
      p.kblock = d->kblock;
      p.partial = d->partial;
      p.mask = d->mask;
      p.order = d->order;
      p.q_block = plan->q_block;
      p.k_block = plan->k_block;
      grid = d->n_order;
    }
  if (wide)
    cu_attention_wide (cb, p, grid);
  else if (sm90)
    cu_attention_sm90 (cb, p, a->head_dim, grid);
  else
    cu_attention_mma (cb, p, a->head_dim, grid);
  cu_check (cb, cudaGetLastError (), "attention");
}
