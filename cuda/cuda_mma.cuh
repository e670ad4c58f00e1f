/* cuda_mma.cuh: the warp-level building blocks of the mma.sync attention kernels: cp.async
 * copies, ldmatrix, bf16 m16n8k16 MMA, exp2, bf16 packing and the 16-byte-chunk swizzle. */
#pragma once

#include "cuda_internal.h"

static __device__ __forceinline__ unsigned
smem_addr (const void *p)
{
  return (unsigned) __cvta_generic_to_shared (p);
}

static __device__ __forceinline__ void
cp_async16 (void *dst, const void *src, int src_bytes)
{
  asm volatile ("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr (dst)), "l"(src),
                "r"(src_bytes));
}

static __device__ __forceinline__ void
cp_async_commit ()
{
  asm volatile ("cp.async.commit_group;\n" ::);
}

template <int N>
static __device__ __forceinline__ void
cp_async_wait ()
{
  asm volatile ("cp.async.wait_group %0;\n" ::"n"(N));
}

static __device__ __forceinline__ void
ldsm_x4 (unsigned *r, const void *p)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                : "r"(smem_addr (p)));
}

static __device__ __forceinline__ void
ldsm_x4_trans (unsigned *r, const void *p)
{
  asm volatile ("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                : "r"(smem_addr (p)));
}

static __device__ __forceinline__ void
mma_bf16 (float *c, const unsigned *a, unsigned b0, unsigned b1)
{
  asm volatile ("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                "{%8,%9}, {%0,%1,%2,%3};\n"
                : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ float
fast_exp2 (float x)
{
  float y;
  asm ("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

static __device__ __forceinline__ unsigned
pack_bf16 (float lo, float hi)
{
  __nv_bfloat162 h = __floats2bfloat162_rn (lo, hi);
  return *reinterpret_cast<unsigned *> (&h);
}

/* Byte offset of 16-byte chunk `ch` of row `row` in a swizzled tile of D bf16 columns. */
template <int D>
static __device__ __forceinline__ int
swz (int row, int ch)
{
  return row * (D * 2) + ((ch ^ (row & 7)) << 4);
}

/* Copies rows [start, start + rows) of one head into a swizzled tile with `threads` threads;
 * rows at or past `limit` are zero-filled. */
template <int D, int THREADS>
static __device__ __forceinline__ void
load_tile (char *dst, const bf16 *base, long ld, int start, int rows, int limit)
{
  constexpr int CH = D / 8;
  for (int i = threadIdx.x; i < rows * CH; i += THREADS)
    {
      int r = i / CH, ch = i % CH, gr = start + r;
      const bf16 *src = gr < limit ? base + gr * ld + ch * 8 : base;
      cp_async16 (dst + swz<D> (r, ch), src, gr < limit ? 16 : 0);
    }
}
