/* cuda_vec.cuh: loading and storing runs of V bf16 elements as f32 (16-byte accesses for V = 8),
 * one element of either type (bf16 or an alloc_f32 buffer's float) as f32, and the alignment test
 * that picks V for a set of views. */
#pragma once

#include "cuda_internal.h"

template <int V>
static __device__ __forceinline__ void
load_f32 (const bf16 *p, float *out)
{
  if constexpr (V == 8)
    {
      uint4 raw = *reinterpret_cast<const uint4 *> (p);
      const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *> (&raw);
#pragma unroll
      for (int i = 0; i < 4; i++)
        {
          float2 f = __bfloat1622float2 (h[i]);
          out[2 * i] = f.x;
          out[2 * i + 1] = f.y;
        }
    }
  else
    {
#pragma unroll
      for (int i = 0; i < V; i++)
        out[i] = __bfloat162float (p[i]);
    }
}

template <int V>
static __device__ __forceinline__ void
store_f32 (bf16 *p, const float *in)
{
  if constexpr (V == 8)
    {
      uint4 raw;
      __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *> (&raw);
#pragma unroll
      for (int i = 0; i < 4; i++)
        h[i] = __floats2bfloat162_rn (in[2 * i], in[2 * i + 1]);
      *reinterpret_cast<uint4 *> (p) = raw;
    }
  else
    {
#pragma unroll
      for (int i = 0; i < V; i++)
        p[i] = __float2bfloat16_rn (in[i]);
    }
}

static __device__ __forceinline__ float
load1 (const float *p)
{
  return *p;
}

static __device__ __forceinline__ float
load1 (const bf16 *p)
{
  return __bfloat162float (*p);
}

static __device__ __forceinline__ void
store1 (float *p, float v)
{
  *p = v;
}

static __device__ __forceinline__ void
store1 (bf16 *p, float v)
{
  *p = __float2bfloat16_rn (v);
}

/* True when a view's rows start on 16-byte boundaries (buffers themselves are 256-byte aligned). */
static inline bool
cu_view_aligned8 (SdView v)
{
  return v.buf == NULL || (v.off % 8 == 0 && v.ld % 8 == 0);
}

/* Blocks for a grid-stride launch over n items. */
static inline unsigned
cu_grid (gsize n, int threads)
{
  gsize b = (n + threads - 1) / threads;
  return (unsigned) MAX ((gsize) 1, MIN (b, (gsize) 65536));
}
