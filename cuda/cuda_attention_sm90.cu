/* cuda_attention_sm90.cu: the Hopper (sm_90a) fused attention kernel, FlashAttention-3 style:
 * dense, causal (CLIP), with T5's relative bias, or block-sparse over a Scale-DiT plan with the
 * token mask applied only inside partial tiles; head dims 64 and 128; ragged ends.
 *
 * A CTA of three warpgroups takes 128 query rows of one head. Warpgroup 0 is the producer: one
 * thread loads the Q tile once and streams K/V tiles with the tensor-memory accelerator (TMA,
 * 128-byte swizzle, zero fill past the last row) into a ring of shared-memory stages, each with a
 * "full" and an "empty" mbarrier. Warpgroups 1 and 2 each own 64 query rows: S = Q K^T by wgmma
 * from shared memory, mask and online softmax in registers (f32), then O += P V by wgmma with P in
 * registers and V read N-major from the same stage, and release the stage. Registers move from
 * the producer to the consumers with setmaxnreg. Plans use 64-key tiles (k_block a multiple of
 * 64), dense runs use 128-key tiles. */
#include <cudaTypedefs.h>
#include <math.h>

#include "cuda_attention.h"
#include "cuda_wgmma.cuh"

#define BM ATTN_SM90_BM
#define NTHREADS 384

/* The kernel's body exists only in the sm_90a device pass; other archs get an empty stub that
 * cu_attention_sm90_available never selects. */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SM90_KERNEL 1
#endif

#ifdef SM90_KERNEL

static __device__ __forceinline__ unsigned
saddr (const void *p)
{
  return (unsigned) __cvta_generic_to_shared (p);
}

static __device__ __forceinline__ void
mbar_init (unsigned bar, int count)
{
  asm volatile ("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}

static __device__ __forceinline__ void
mbar_expect_tx (unsigned bar, int bytes)
{
  asm volatile ("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

static __device__ __forceinline__ void
mbar_arrive (unsigned bar)
{
  asm volatile ("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

static __device__ __forceinline__ void
mbar_wait (unsigned bar, int parity)
{
  unsigned done;
  do
    asm volatile ("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                  : "=r"(done)
                  : "r"(bar), "r"(parity)
                  : "memory");
  while (!done);
}

/* One TMA box (64 columns x box rows) at column c0, row r0 of the tensor into shared memory. */
static __device__ __forceinline__ void
tma_load (unsigned dst, const CUtensorMap *map, int c0, int r0, unsigned bar)
{
  asm volatile ("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
                ::"r"(dst), "l"((unsigned long long) map), "r"(c0), "r"(r0), "r"(bar)
                : "memory");
}

/* Shared-memory matrix descriptor for a 128-byte-swizzled tile (8-row groups 1024 bytes apart):
 * lbo is the byte distance between 64-column chunks (used by N-major operands). */
static __device__ __forceinline__ unsigned long long
sw128_desc (unsigned addr, unsigned lbo)
{
  return (unsigned long long) ((addr & 0x3FFFF) >> 4) | (unsigned long long) ((lbo >> 4) & 0x3FFF) << 16
         | (unsigned long long) (1024 >> 4) << 32 | 1ull << 62;
}

static __device__ __forceinline__ unsigned
pack2 (float lo, float hi)
{
  __nv_bfloat162 h = __floats2bfloat162_rn (lo, hi);
  return *reinterpret_cast<unsigned *> (&h);
}

static __device__ __forceinline__ float
exp2_approx (float x)
{
  float y;
  asm ("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

#endif

/* MODE: 0 dense (ragged ends only), 1 plan, 2 causal and/or bias. Tiles of BN keys, STAGES deep. */
template <int D, int BN, int STAGES, int MODE>
static __global__ void __launch_bounds__ (NTHREADS, 1)
sm90_kernel (const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk,
             const __grid_constant__ CUtensorMap tv, AttnParams p)
{
#ifdef SM90_KERNEL
  constexpr int QBYTES = BM * D * 2, KVBYTES = BN * D * 2, CHUNKS = D / 64;
  extern __shared__ char smem_raw[];
  /* 1024-byte alignment for the swizzle atoms: Q, then per stage K and V, then the barriers */
  const unsigned base = (saddr (smem_raw) + 1023) & ~1023u;
  char *const smem = smem_raw + (base - saddr (smem_raw));
  const unsigned sq = base, skv = base + QBYTES;
  const unsigned bars = skv + STAGES * 2 * KVBYTES; /* full[s], empty[s], then Q's */
#define FULL(s) (bars + 8 * (s))
#define EMPTY(s) (bars + 8 * (STAGES + (s)))
#define QBAR (bars + 16 * STAGES)

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

  if (threadIdx.x == 0)
    {
      for (int s = 0; s < STAGES; s++)
        {
          mbar_init (FULL (s), 1);
          mbar_init (EMPTY (s), 8); /* one arrival per consumer warp */
        }
      mbar_init (QBAR, 1);
      asm volatile ("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
  __syncthreads ();

  const int wg = threadIdx.x >> 7;
  if (wg == 0)
    {
      asm volatile ("setmaxnreg.dec.sync.aligned.u32 40;\n");
      if (threadIdx.x == 0)
        {
          mbar_expect_tx (QBAR, QBYTES);
#pragma unroll
          for (int h = 0; h < CHUNKS; h++)
            tma_load (sq + h * BM * 128, &tq, head * D + h * 64, q0, QBAR);
          for (int i = 0; i < n_tiles; i++)
            {
              const int s = i % STAGES;
              int mt;
              const int kstart = attn_tile_start<MODE == 1, BN> (p, e0, per_entry, i, &mt);
              if (i >= STAGES)
                mbar_wait (EMPTY (s), (i / STAGES - 1) & 1);
              mbar_expect_tx (FULL (s), 2 * KVBYTES);
              const unsigned sk = skv + s * 2 * KVBYTES, sv = sk + KVBYTES;
#pragma unroll
              for (int h = 0; h < CHUNKS; h++)
                {
                  tma_load (sk + h * BN * 128, &tk, head * D + h * 64, kstart, FULL (s));
                  tma_load (sv + h * BN * 128, &tv, head * D + h * 64, kstart, FULL (s));
                }
            }
        }
    }
  else
    {
      asm volatile ("setmaxnreg.inc.sync.aligned.u32 232;\n");
      const int c = wg - 1, wq = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
      const int row0 = q0 + c * 64 + wq * 16 + g; /* this thread's rows: row0 and row0 + 8 */
      float o[D / 2];
#pragma unroll
      for (int n = 0; n < D / 2; n++)
        o[n] = 0;
      float m_run[2] = { -INFINITY, -INFINITY }, l_run[2] = { 0, 0 };
      const unsigned qa = sq + c * 64 * 128;
      mbar_wait (QBAR, 0);

      for (int i = 0; i < n_tiles; i++)
        {
          const int s = i % STAGES;
          int mask_tile;
          const int kstart = attn_tile_start<MODE == 1, BN> (p, e0, per_entry, i, &mask_tile);
          unsigned long long bits0 = 0, bits1 = 0;
          if (MODE == 1 && mask_tile >= 0)
            {
              const unsigned long long *mrow = p.mask + (long) mask_tile * p.q_block + mask_row0 + c * 64 + wq * 16 + g;
              bits0 = mrow[0];
              bits1 = mrow[8];
            }
          const unsigned sk = skv + s * 2 * KVBYTES, sv = sk + KVBYTES;
          mbar_wait (FULL (s), (i / STAGES) & 1);

          /* S = Q K^T (64 rows x BN keys for this warpgroup) */
          float sc[BN / 2];
          wgmma_fence ();
#pragma unroll
          for (int kk = 0; kk < D / 16; kk++)
            wgmma_ss<BN> (sc, sw128_desc (qa + (kk / 4) * BM * 128 + (kk % 4) * 32, 16),
                          sw128_desc (sk + (kk / 4) * BN * 128 + (kk % 4) * 32, 16), kk > 0);
          wgmma_commit ();
          wgmma_wait<0> ();

          /* Scale to log2 units; mask only where some pair of the tile may be excluded. */
          const bool elementwise = (MODE == 1 && mask_tile >= 0) || kstart + BN > p.n_kv
                                   || (MODE == 2 && (p.bias || (p.causal && kstart + BN - 1 > q0)));
#pragma unroll
          for (int j = 0; j < BN / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++)
              {
                float x = sc[j * 4 + e] * p.scale_log2;
                if (elementwise)
                  {
                    const int cc = j * 8 + 2 * t + (e & 1), row = row0 + (e >> 1) * 8, col = kstart + cc;
                    bool ok = col < p.n_kv && row < p.n_q;
                    if (MODE == 2 && p.causal)
                      ok = ok && col <= row;
                    if (MODE == 1 && mask_tile >= 0)
                      ok = ok && (((e >> 1) ? bits1 : bits0) >> cc & 1);
                    if (!ok)
                      x = -INFINITY;
                    else if (MODE == 2 && p.bias)
                      x += __bfloat162float (p.bias[(long) head * (p.n_q + p.n_kv - 1) + (col - row) + p.n_q - 1]) * ATTN_LOG2E;
                  }
                sc[j * 4 + e] = x;
              }

          /* Online softmax: two rows per thread, reduced over the quad that shares them. */
          float corr[2];
#pragma unroll
          for (int r = 0; r < 2; r++)
            {
              float mx = -INFINITY;
#pragma unroll
              for (int j = 0; j < BN / 8; j++)
                mx = fmaxf (mx, fmaxf (sc[j * 4 + 2 * r], sc[j * 4 + 2 * r + 1]));
              mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 1));
              mx = fmaxf (mx, __shfl_xor_sync (0xffffffffu, mx, 2));
              const float m_new = fmaxf (m_run[r], mx), mb = m_new == -INFINITY ? 0.0f : m_new;
              corr[r] = exp2_approx (m_run[r] - mb);
              m_run[r] = m_new;
              float sum = 0;
#pragma unroll
              for (int j = 0; j < BN / 8; j++)
                {
                  sc[j * 4 + 2 * r] = exp2_approx (sc[j * 4 + 2 * r] - mb);
                  sc[j * 4 + 2 * r + 1] = exp2_approx (sc[j * 4 + 2 * r + 1] - mb);
                  sum += sc[j * 4 + 2 * r] + sc[j * 4 + 2 * r + 1];
                }
              l_run[r] = l_run[r] * corr[r] + sum;
            }
#pragma unroll
          for (int n = 0; n < D / 8; n++)
            {
              o[n * 4] *= corr[0];
              o[n * 4 + 1] *= corr[0];
              o[n * 4 + 2] *= corr[1];
              o[n * 4 + 3] *= corr[1];
            }

          /* O += P V: P from the S accumulators as A fragments, V N-major from the stage. */
          unsigned pa[BN / 16][4];
#pragma unroll
          for (int kk = 0; kk < BN / 16; kk++)
            {
              pa[kk][0] = pack2 (sc[8 * kk], sc[8 * kk + 1]);
              pa[kk][1] = pack2 (sc[8 * kk + 2], sc[8 * kk + 3]);
              pa[kk][2] = pack2 (sc[8 * kk + 4], sc[8 * kk + 5]);
              pa[kk][3] = pack2 (sc[8 * kk + 6], sc[8 * kk + 7]);
            }
          wgmma_fence ();
#pragma unroll
          for (int kk = 0; kk < BN / 16; kk++)
            wgmma_rs<D> (o, pa[kk], sw128_desc (sv + kk * 16 * 128, BN * 128));
          wgmma_commit ();
          wgmma_wait<0> ();
          __syncwarp ();
          if (lane == 0)
            mbar_arrive (EMPTY (s));
        }

      /* Normalize (rows with no allowed key stay zero), stage in this warpgroup's Q rows. */
      float inv[2];
#pragma unroll
      for (int r = 0; r < 2; r++)
        {
          float l = l_run[r];
          l += __shfl_xor_sync (0xffffffffu, l, 1);
          l += __shfl_xor_sync (0xffffffffu, l, 2);
          inv[r] = l > 0 ? 1.0f / l : 0.0f;
        }
      char *oq = smem + c * 64 * 128;
      const int r0 = wq * 16 + g;
#pragma unroll
      for (int n = 0; n < D / 8; n++)
        {
          char *chunk = oq + (n / 8) * BM * 128 + 4 * t;
          *reinterpret_cast<unsigned *> (chunk + r0 * 128 + (((n % 8) ^ (r0 & 7)) << 4)) = pack2 (o[n * 4] * inv[0], o[n * 4 + 1] * inv[0]);
          *reinterpret_cast<unsigned *> (chunk + (r0 + 8) * 128 + (((n % 8) ^ ((r0 + 8) & 7)) << 4)) = pack2 (o[n * 4 + 2] * inv[1], o[n * 4 + 3] * inv[1]);
        }
      asm volatile ("bar.sync %0, 128;\n" ::"r"(1 + c) : "memory");
      bf16 *obase = p.out + (long) head * D;
      for (int idx = threadIdx.x & 127; idx < 64 * (D / 8); idx += 128)
        {
          const int r = idx / (D / 8), n = idx % (D / 8), row = q0 + c * 64 + r;
          if (row < p.n_q)
            *reinterpret_cast<uint4 *> (obase + (long) row * p.ldo + n * 8)
                = *reinterpret_cast<const uint4 *> (oq + (n / 8) * BM * 128 + r * 128 + (((n % 8) ^ (r & 7)) << 4));
        }
    }
#undef FULL
#undef EMPTY
#undef QBAR
#endif
}

static PFN_cuTensorMapEncodeTiled_v12000
encode_fn (void)
{
  static PFN_cuTensorMapEncodeTiled_v12000 fn;
  static gsize once;
  if (g_once_init_enter (&once))
    {
      void *f = NULL;
      cudaDriverEntryPointQueryResult q;
      if (cudaGetDriverEntryPointByVersion ("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess
          || q != cudaDriverEntryPointSuccess)
        f = NULL;
      fn = (PFN_cuTensorMapEncodeTiled_v12000) f;
      g_once_init_leave (&once, 1);
    }
  return fn;
}

/* A TMA map over rows x cols bf16 elements (row stride ld) in boxes of 64 columns x box_rows. */
static gboolean
make_map (CuBackend *cb, CUtensorMap *map, const bf16 *ptr, long ld, int rows, int cols, int box_rows,
          const char *what)
{
  cuuint64_t dims[2] = { (cuuint64_t) cols, (cuuint64_t) rows }, strides[1] = { (cuuint64_t) ld * 2 };
  cuuint32_t box[2] = { 64, (cuuint32_t) box_rows }, estride[2] = { 1, 1 };
  CUresult r = encode_fn () (map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 2, (void *) ptr, dims, strides, box, estride,
                             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    {
      cu_record (cb, SD_ERROR_BACKEND, "attention: cannot describe %s to the TMA unit (%d rows x %d columns, "
                 "row stride %ld; CUresult %d)", what, rows, cols, ld, (int) r);
      return FALSE;
    }
  return TRUE;
}

gboolean
cu_attention_sm90_available (CuBackend *cb)
{
  static int avail = -1;
  if (avail < 0)
    {
      cudaFuncAttributes attr;
      int major = 0;
      avail = cudaDeviceGetAttribute (&major, cudaDevAttrComputeCapabilityMajor, cb->device) == cudaSuccess
              && major == 9 && encode_fn () != NULL
              && cudaFuncGetAttributes (&attr, sm90_kernel<128, 128, 2, 0>) == cudaSuccess && attr.binaryVersion == 90;
      cudaGetLastError ();
    }
  return avail;
}

template <int D, int BN, int STAGES, int MODE>
static void
launch (CuBackend *cb, const AttnParams &p, unsigned grid)
{
  const int smem = 1024 + BM * D * 2 + STAGES * 2 * BN * D * 2 + (2 * STAGES + 1) * 8;
  static int configured = 0;
  CUtensorMap tq, tk, tv;
  const int cols = p.heads * D;
  if (!make_map (cb, &tq, p.q, p.ldq, p.n_q, cols, BM, "the queries")
      || !make_map (cb, &tk, p.k, p.ldk, p.n_kv, cols, BN, "the keys")
      || !make_map (cb, &tv, p.v, p.ldv, p.n_kv, cols, BN, "the values"))
    return;
  if (!configured)
    {
      if (!cu_check (cb, cudaFuncSetAttribute (sm90_kernel<D, BN, STAGES, MODE>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, smem),
                     "attention: asking for shared memory"))
        return;
      configured = 1;
    }
  sm90_kernel<D, BN, STAGES, MODE><<<grid, NTHREADS, smem, cb->stream>>> (tq, tk, tv, p);
}

template <int D>
static void
launch_d (CuBackend *cb, const AttnParams &p, unsigned grid)
{
  if (p.row_start)
    launch<D, 64, 4, 1> (cb, p, grid);
  else if (p.causal || p.bias)
    launch<D, 128, 2, 2> (cb, p, grid);
  else
    launch<D, 128, 2, 0> (cb, p, grid);
}

void
cu_attention_sm90 (CuBackend *cb, const AttnParams &p, int head_dim, unsigned grid)
{
  if (head_dim == 64)
    launch_d<64> (cb, p, grid);
  else
    launch_d<128> (cb, p, grid);
}
