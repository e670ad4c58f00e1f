/* cuda_norm.cu: the CUDA backend's LayerNorm (with affine weight/bias and AdaLN modulation),
 * RMSNorm, and per-head RMSNorm + rotary embedding, each one pass over its rows. */
#include "cuda_vec.cuh"

#define NORM_THREADS 256

/* Sum over the block (NORM_THREADS threads); every thread gets the result. */
static __device__ float
block_sum (float v, float *red)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  __syncthreads (); /* red may still be read from the previous reduction */
  if (lane == 0)
    red[warp] = v;
  __syncthreads ();
  v = 0;
#pragma unroll
  for (int w = 0; w < NORM_THREADS / 32; w++)
    v += red[w];
  return v;
}

/* One block per row. mode 0: LayerNorm (+ weight, bias, modulation); mode 1: RMSNorm (+ weight). */
template <int V>
static __global__ void __launch_bounds__ (NORM_THREADS)
norm_kernel (int mode, const bf16 *x, long ldx, bf16 *y, long ldy, int dim, float eps,
             const bf16 *weight, const bf16 *bias, const bf16 *shift, long ld_shift,
             const bf16 *scale, long ld_scale, CuSegments seg)
{
  __shared__ float red[NORM_THREADS / 32];
  const int r = blockIdx.x;
  const bf16 *xr = x + r * ldx;
  bf16 *yr = y + r * ldy;
  float mean = 0, rstd, sum = 0;
  const bf16 *sh = NULL, *sc = NULL;

  if (mode == 0)
    {
      for (int c = threadIdx.x * V; c < dim; c += NORM_THREADS * V)
        {
          float v[V];
          load_f32<V> (xr + c, v);
#pragma unroll
          for (int k = 0; k < V; k++)
            sum += v[k];
        }
      mean = block_sum (sum, red) / dim;
      sum = 0;
    }
  for (int c = threadIdx.x * V; c < dim; c += NORM_THREADS * V)
    {
      float v[V];
      load_f32<V> (xr + c, v);
#pragma unroll
      for (int k = 0; k < V; k++)
        sum += (v[k] - mean) * (v[k] - mean);
    }
  rstd = rsqrtf (block_sum (sum, red) / dim + eps);
  if (scale)
    {
      int g = max (cu_segment_group (seg, r), 0);
      sh = shift + g * ld_shift;
      sc = scale + g * ld_scale;
    }
  for (int c = threadIdx.x * V; c < dim; c += NORM_THREADS * V)
    {
      float v[V], w[V], b[V], s1[V], s2[V];
      load_f32<V> (xr + c, v);
      if (weight)
        load_f32<V> (weight + c, w);
      if (bias)
        load_f32<V> (bias + c, b);
      if (sc)
        {
          load_f32<V> (sc + c, s1);
          load_f32<V> (sh + c, s2);
        }
#pragma unroll
      for (int k = 0; k < V; k++)
        {
          float o = (v[k] - mean) * rstd;
          if (weight)
            o *= w[k];
          if (bias)
            o += b[k];
          if (sc)
            o = o * (1.0f + s1[k]) + s2[k];
          v[k] = o;
        }
      store_f32<V> (yr + c, v);
    }
}

static void
launch_norm (SdBackend *be, int mode, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight,
             SdBuf *bias, const SdModulation *mod, const char *what)
{
  CuBackend *cb = cu_backend (be);
  CuSegments seg = { -1 };
  gboolean modulated = mod && mod->scale.buf;
  SdView none = { NULL, 0, 0 };
  SdView shift = modulated ? mod->shift : none, scale = modulated ? mod->scale : none;
  const bf16 *sh = modulated ? cu_ptr (shift) : NULL, *sc = modulated ? cu_ptr (scale) : NULL;

  if (rows <= 0 || dim <= 0)
    return;
  if (modulated && !cu_segments (cb, &mod->groups, &seg))
    return;
  if (dim % 8 == 0 && cu_view_aligned8 (x) && cu_view_aligned8 (y) && cu_view_aligned8 (shift)
      && cu_view_aligned8 (scale))
    norm_kernel<8><<<rows, NORM_THREADS, 0, cb->stream>>> (
        mode, cu_ptr (x), x.ld, cu_ptr (y), y.ld, dim, eps, weight ? weight->ptr : NULL,
        bias ? bias->ptr : NULL, sh, shift.ld, sc, scale.ld, seg);
  else
    norm_kernel<1><<<rows, NORM_THREADS, 0, cb->stream>>> (
        mode, cu_ptr (x), x.ld, cu_ptr (y), y.ld, dim, eps, weight ? weight->ptr : NULL,
        bias ? bias->ptr : NULL, sh, shift.ld, sc, scale.ld, seg);
  cu_check (cb, cudaGetLastError (), what);
}

void
cu_layer_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight,
               SdBuf *bias, const SdModulation *mod)
{
  launch_norm (be, 0, x, y, rows, dim, eps, weight, bias, mod, "layer_norm");
}

void
cu_rms_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight)
{
  launch_norm (be, 1, x, y, rows, dim, eps, weight, NULL, NULL, "rms_norm");
}

/* One warp per (row, head): RMSNorm over the head, then rotate pairs (2i, 2i+1). Each lane
 * holds pairs lane, lane + 32, ... of the head in registers (head_dim <= 2 * 32 * MAX_PAIRS). */
#define MAX_PAIRS 4

static __global__ void
head_norm_rope_kernel (bf16 *x, long ldx, int rows, int heads, int head_dim, float eps,
                       const bf16 *weight, const bf16 *cosv, const bf16 *sinv)
{
  const int lane = threadIdx.x & 31;
  const long item = (blockIdx.x * (long) blockDim.x + threadIdx.x) >> 5;
  const int half = head_dim / 2;
  if (item >= (long) rows * heads)
    return;
  const int r = (int) (item / heads), h = (int) (item % heads);
  __nv_bfloat162 *v = reinterpret_cast<__nv_bfloat162 *> (x + r * ldx + (long) h * head_dim);
  float2 p[MAX_PAIRS];
  float sq = 0, rs = 1;

#pragma unroll
  for (int k = 0; k < MAX_PAIRS; k++)
    {
      int i = lane + 32 * k;
      p[k] = i < half ? __bfloat1622float2 (v[i]) : make_float2 (0, 0);
      sq += p[k].x * p[k].x + p[k].y * p[k].y;
    }
  if (weight)
    {
#pragma unroll
      for (int o = 16; o > 0; o >>= 1)
        sq += __shfl_xor_sync (0xffffffffu, sq, o);
      rs = rsqrtf (sq / head_dim + eps);
    }
#pragma unroll
  for (int k = 0; k < MAX_PAIRS; k++)
    {
      int i = lane + 32 * k;
      if (i >= half)
        continue;
      float a = p[k].x, b = p[k].y;
      if (weight)
        {
          a = a * rs * __bfloat162float (weight[2 * i]);
          b = b * rs * __bfloat162float (weight[2 * i + 1]);
        }
      if (cosv)
        {
          float c = __bfloat162float (cosv[(long) r * half + i]);
          float s = __bfloat162float (sinv[(long) r * half + i]);
          float a2 = a * c - b * s;
          b = b * c + a * s;
          a = a2;
        }
      v[i] = __floats2bfloat162_rn (a, b);
    }
}

void
cu_head_norm_rope (SdBackend *be, SdView x, int rows, int heads, int head_dim, float eps,
                   SdBuf *weight, SdBuf *cos, SdBuf *sin)
{
  CuBackend *cb = cu_backend (be);
  long warps = (long) rows * heads;
  if (rows <= 0 || heads <= 0)
    return;
  if (head_dim % 2 || head_dim > 64 * MAX_PAIRS || x.off % 2 || x.ld % 2)
    {
      cu_record (cb, SD_ERROR_UNSUPPORTED,
                 "head_norm_rope: head_dim %d, offset %zu, ld %d: needs an even head_dim <= %d and even offset/ld",
                 head_dim, (size_t) x.off, x.ld, 64 * MAX_PAIRS);
      return;
    }
  head_norm_rope_kernel<<<(unsigned) ((warps * 32 + 255) / 256), 256, 0, cb->stream>>> (
      cu_ptr (x), x.ld, rows, heads, head_dim, eps, weight ? weight->ptr : NULL,
      cos ? cos->ptr : NULL, sin ? sin->ptr : NULL);
  cu_check (cb, cudaGetLastError (), "head_norm_rope");
}
