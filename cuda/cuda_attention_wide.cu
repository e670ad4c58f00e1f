/* cuda_attention_wide.cu: dense attention at head dim 512 (the VAE mid-block: one head over the
 * whole latent) without a score matrix in memory: flash-attention style, bf16 mma.sync, f32
 * online softmax, ragged ends masked.
 *
 * One CTA of 8 warps takes 64 query rows of one head (Q in shared memory) and streams 32-key K/V
 * tiles through shared memory with cp.async, two stages deep. Warps w and w + 4 share 16 query
 * rows: both compute the same scores (so both hold the same softmax statistics) and each keeps
 * one half (256 columns) of the output in registers. With p.lse each row's log-sum-exp is written
 * too (by the first of the two warps). */
#include <math.h>

#include "cuda_attention.h"
#include "cuda_mma.cuh"

#define D 512
#define WBM ATTN_WIDE_BM
#define WBN 32
#define WTHREADS 256
#define HALF (D / 2)

static __global__ void __launch_bounds__ (WTHREADS, 1)
wide_kernel (AttnParams p)
{
  constexpr int TILE = WBN * D * 2; /* bytes of one K or V tile */
  extern __shared__ __align__ (128) char smem[];
#define STAGE_K(s) (smem + (s) * 2 * TILE)
#define STAGE_V(s) (smem + (s) * 2 * TILE + TILE)
  char *sq = smem + 4 * TILE;

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int head = blockIdx.x / p.n_qtiles, q0 = (blockIdx.x % p.n_qtiles) * WBM;
  const int wrow = (warp & 3) * 16, half = warp >> 2;
  const bf16 *kbase = p.k + (long) head * D, *vbase = p.v + (long) head * D;
  const int n_tiles = (p.n_kv + WBN - 1) / WBN;

  load_tile<D, WTHREADS> (sq, p.q + (long) head * D, p.ldq, q0, WBM, p.n_q);
  load_tile<D, WTHREADS> (STAGE_K (0), kbase, p.ldk, 0, WBN, p.n_kv);
  load_tile<D, WTHREADS> (STAGE_V (0), vbase, p.ldv, 0, WBN, p.n_kv);
  cp_async_commit ();

  float o[HALF / 8][4];
#pragma unroll
  for (int n = 0; n < HALF / 8; n++)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0;
  float m_run[2] = { -INFINITY, -INFINITY }, l_run[2] = { 0, 0 };

  for (int i = 0; i < n_tiles; i++)
    {
      const int st = i & 1, kstart = i * WBN;
      if (i + 1 < n_tiles)
        {
          load_tile<D, WTHREADS> (STAGE_K (st ^ 1), kbase, p.ldk, kstart + WBN, WBN, p.n_kv);
          load_tile<D, WTHREADS> (STAGE_V (st ^ 1), vbase, p.ldv, kstart + WBN, WBN, p.n_kv);
        }
      cp_async_commit ();
      cp_async_wait<1> ();
      __syncthreads ();

      /* S = Q K^T for this warp's 16 rows and the tile's 32 keys. */
      float s[WBN / 8][4];
#pragma unroll
      for (int j = 0; j < WBN / 8; j++)
        s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0;
#pragma unroll 4
      for (int kk = 0; kk < D / 16; kk++)
        {
          unsigned qa[4];
          ldsm_x4 (qa, sq + swz<D> (wrow + (lane & 7) + ((lane >> 3) & 1) * 8, kk * 2 + (lane >> 4)));
#pragma unroll
          for (int jp = 0; jp < WBN / 16; jp++)
            {
              unsigned b[4];
              ldsm_x4 (b, STAGE_K (st) + swz<D> (jp * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
              mma_bf16 (s[2 * jp], qa, b[0], b[1]);
              mma_bf16 (s[2 * jp + 1], qa, b[2], b[3]);
            }
        }

      /* Scale to log2 units; keys past the end are excluded. */
      const bool ragged = kstart + WBN > p.n_kv;
#pragma unroll
      for (int j = 0; j < WBN / 8; j++)
#pragma unroll
        for (int e = 0; e < 4; e++)
          {
            float x = s[j][e] * p.scale_log2;
            if (ragged && kstart + j * 8 + 2 * t + (e & 1) >= p.n_kv)
              x = -INFINITY;
            s[j][e] = x;
          }

      /* Online softmax over the quad that shares each row. */
      float corr[2];
#pragma unroll
      for (int r = 0; r < 2; r++)
        {
          float mx = -INFINITY;
#pragma unroll
          for (int j = 0; j < WBN / 8; j++)
            mx = fmaxf (mx, fmaxf (s[j][2 * r], s[j][2 * r + 1]));
          mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 1));
          mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 2));
          float m_new = fmaxf (m_run[r], mx);
          float base = m_new == -INFINITY ? 0.0f : m_new;
          corr[r] = fast_exp2 (m_run[r] - base);
          m_run[r] = m_new;
          float sum = 0;
#pragma unroll
          for (int j = 0; j < WBN / 8; j++)
            {
              s[j][2 * r] = fast_exp2 (s[j][2 * r] - base);
              s[j][2 * r + 1] = fast_exp2 (s[j][2 * r + 1] - base);
              sum += s[j][2 * r] + s[j][2 * r + 1];
            }
          l_run[r] = l_run[r] * corr[r] + sum;
        }
#pragma unroll
      for (int n = 0; n < HALF / 8; n++)
        {
          o[n][0] *= corr[0];
          o[n][1] *= corr[0];
          o[n][2] *= corr[1];
          o[n][3] *= corr[1];
        }

      /* O[:, half] += P V[:, half]. */
#pragma unroll
      for (int kk = 0; kk < WBN / 16; kk++)
        {
          unsigned a[4] = { pack_bf16 (s[2 * kk][0], s[2 * kk][1]), pack_bf16 (s[2 * kk][2], s[2 * kk][3]),
                            pack_bf16 (s[2 * kk + 1][0], s[2 * kk + 1][1]),
                            pack_bf16 (s[2 * kk + 1][2], s[2 * kk + 1][3]) };
#pragma unroll
          for (int jd = 0; jd < HALF / 16; jd++)
            {
              unsigned b[4];
              ldsm_x4_trans (b, STAGE_V (st) + swz<D> (kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                                       half * (HALF / 8) + jd * 2 + (lane >> 4)));
              mma_bf16 (o[2 * jd], a, b[0], b[1]);
              mma_bf16 (o[2 * jd + 1], a, b[2], b[3]);
            }
        }
      __syncthreads (); /* the stage is overwritten by the next iteration's loads */
    }
  cp_async_wait<0> ();
  __syncthreads ();

  /* Normalize and stage the tile in sq (every warp is past its last read of it). */
  float inv[2], lsum[2];
#pragma unroll
  for (int r = 0; r < 2; r++)
    {
      float l = l_run[r];
      l += __shfl_xor_sync (0xffffffffu, l, 1);
      l += __shfl_xor_sync (0xffffffffu, l, 2);
      lsum[r] = l;
      inv[r] = l > 0 ? 1.0f / l : 0.0f;
    }
  const int r0 = wrow + g;
  if (p.lse && half == 0 && t == 0)
#pragma unroll
    for (int r = 0; r < 2; r++)
      if (q0 + r0 + 8 * r < p.n_q)
        p.lse[(long) head * p.n_q + q0 + r0 + 8 * r]
            = lsum[r] > 0 ? (m_run[r] + log2f (lsum[r])) * ATTN_LN2 : -INFINITY;
#pragma unroll
  for (int n = 0; n < HALF / 8; n++)
    {
      const int ch = half * (HALF / 8) + n;
      *reinterpret_cast<unsigned *> (sq + swz<D> (r0, ch) + 4 * t) = pack_bf16 (o[n][0] * inv[0], o[n][1] * inv[0]);
      *reinterpret_cast<unsigned *> (sq + swz<D> (r0 + 8, ch) + 4 * t) = pack_bf16 (o[n][2] * inv[1], o[n][3] * inv[1]);
    }
  __syncthreads ();
  bf16 *obase = p.out + (long) head * D;
  for (int i = threadIdx.x; i < WBM * (D / 8); i += WTHREADS)
    {
      int r = i / (D / 8), ch = i % (D / 8);
      if (q0 + r < p.n_q)
        *reinterpret_cast<uint4 *> (obase + (long) (q0 + r) * p.ldo + ch * 8) = *reinterpret_cast<const uint4 *> (sq + swz<D> (r, ch));
    }
#undef STAGE_K
#undef STAGE_V
}

void
cu_attention_wide (CuBackend *cb, const AttnParams &p, unsigned grid)
{
  const int smem = 4 * WBN * D * 2 + WBM * D * 2;
  static int configured = 0;
  if (!configured)
    {
      if (!cu_check (cb, cudaFuncSetAttribute (wide_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
                     "attention (head dim 512): asking for shared memory"))
        return;
      configured = 1;
    }
  wide_kernel<<<grid, WTHREADS, smem, cb->stream>>> (p);
}
