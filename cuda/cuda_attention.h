/* cuda_attention.h: what the attention kernels share: the launch parameters (one head slice of
 * row-major q/k/v/out, the optional plan, causal flag and T5 bias) and the three kernels'
 * launchers (portable mma.sync, Hopper wgmma/TMA, and head dim 512 for the VAE). */
#pragma once

#include "cuda_internal.h"

#define ATTN_LOG2E 1.4426950408889634f
#define ATTN_LN2 0.6931471805599453f

typedef struct {
  const bf16 *q, *k, *v;
  bf16 *out;
  long ldq, ldk, ldv, ldo;
  int n_q, n_kv, heads, n_qtiles;
  float scale_log2;
  int causal;
  const bf16 *bias; /* [heads][n_q + n_kv - 1] or NULL */
  /* Plan (row_start NULL: dense). */
  const int *row_start, *kblock;
  const unsigned char *partial;
  const unsigned long long *mask; /* per partial 64-key tile and query row: bit c allows key c */
  const int *order;
  int q_block, k_block;
  float *lse; /* [heads][n_q] natural log-sum-exp of each row's scaled scores, or NULL (wide kernel) */
} AttnParams;

/* Query rows per CTA of each kernel (a plan's q_block must be a multiple). */
#define ATTN_MMA_BM 128
#define ATTN_SM90_BM 128
#define ATTN_WIDE_BM 64

/* Each launcher records its own failures on cb; grid is the number of (query tile, head) items. */
void cu_attention_mma (CuBackend *cb, const AttnParams &p, int head_dim, unsigned grid);
/* TRUE when the loaded module holds the sm_90a kernel and the device runs it. */
gboolean cu_attention_sm90_available (CuBackend *cb);
void cu_attention_sm90 (CuBackend *cb, const AttnParams &p, int head_dim, unsigned grid);
/* Head dim 512, dense only (no plan, causal or bias): the VAE mid-block; the only fused kernel
 * that writes log-sum-exps (p.lse). */
void cu_attention_wide (CuBackend *cb, const AttnParams &p, unsigned grid);

/* Where key tile i (of `tile` keys) of a query tile starts; *mask_tile is the tile's index into
 * the plan's 64-key bit masks, or -1 when every pair of the tile is allowed. e0 is the query
 * block's first plan entry and per_entry = k_block / tile. */
template <bool PLAN, int TILE>
static __device__ __forceinline__ int
attn_tile_start (const AttnParams &p, int e0, int per_entry, int i, int *mask_tile)
{
  if (!PLAN)
    {
      *mask_tile = -1;
      return i * TILE;
    }
  int e = e0 + i / per_entry, sub = i % per_entry;
  *mask_tile = p.partial[e] ? e * per_entry + sub : -1;
  return p.kblock[e] * p.k_block + sub * TILE;
}
