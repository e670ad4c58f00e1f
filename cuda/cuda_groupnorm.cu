/* cuda_groupnorm.cu: the CUDA backend's GroupNorm in two ops: per-group statistics of a tile (mean
 * and sum of squared deviations, accumulated in double, merged over slices with Chan's formula,
 * stored f32) and the normalization with affine and optional SiLU. */
#include "cuda_vec.cuh"

#define THREADS 256
#define MAX_SLICES 64

static __device__ double
block_sum (double v, double *red)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  __syncthreads ();
  if (lane == 0)
    red[warp] = v;
  __syncthreads ();
  v = 0;
#pragma unroll
  for (int w = 0; w < THREADS / 32; w++)
    v += red[w];
  return v;
}

/* Block (slice, group): (count, mean, M2) of its slice of the group's cpg * hw elements. */
static __global__ void __launch_bounds__ (THREADS)
stats_partial_kernel (const bf16 *x, long ldx, int cpg, int hw, int slices, double *part)
{
  __shared__ double red[THREADS / 32];
  const int s = blockIdx.x, g = blockIdx.y;
  const long len = (long) cpg * hw, e0 = len * s / slices, e1 = len * (s + 1) / slices;
  const bf16 *base = x + (long) g * cpg * ldx;
  double sum = 0, m2 = 0, mean;
  for (long e = e0 + threadIdx.x; e < e1; e += THREADS)
    sum += __bfloat162float (base[(e / hw) * ldx + e % hw]);
  sum = block_sum (sum, red);
  mean = e1 > e0 ? sum / (double) (e1 - e0) : 0.0;
  for (long e = e0 + threadIdx.x; e < e1; e += THREADS)
    {
      double d = __bfloat162float (base[(e / hw) * ldx + e % hw]) - mean;
      m2 += d * d;
    }
  m2 = block_sum (m2, red);
  if (threadIdx.x == 0)
    {
      double *p = part + 3 * ((long) g * slices + s);
      p[0] = (double) (e1 - e0);
      p[1] = mean;
      p[2] = m2;
    }
}

/* One thread per group: merges the slices (Chan et al.) and stores mean, M2 as f32. */
static __global__ void
stats_merge_kernel (const double *part, int groups, int slices, float *stats)
{
  const int g = blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= groups)
    return;
  double n = 0, mean = 0, m2 = 0;
  for (int s = 0; s < slices; s++)
    {
      const double *p = part + 3 * ((long) g * slices + s);
      double nt = n + p[0];
      if (p[0] == 0)
        continue;
      double delta = p[1] - mean;
      mean += delta * p[0] / nt;
      m2 += p[2] + delta * delta * n * p[0] / nt;
      n = nt;
    }
  stats[2 * g] = (float) mean;
  stats[2 * g + 1] = (float) m2;
}

void
cu_group_norm_stats (SdBackend *be, SdView x, int channels, int hw, int groups, SdView stats)
{
  CuBackend *cb = cu_backend (be);
  const int cpg = groups > 0 ? channels / groups : 0;
  const long len = (long) cpg * hw;
  int slices;
  double *part;

  if (groups <= 0 || channels % groups)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "group_norm_stats: %d channels in %d groups", channels, groups);
      return;
    }
  if (!stats.buf->f32)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "group_norm_stats: the statistics buffer must come from alloc_f32");
      return;
    }
  /* enough blocks to fill the GPU, each slice at least a few thousand elements */
  slices = (int) MIN ((long) MAX_SLICES, MAX (1L, MIN (len / 4096, (long) 4 * cb->sm_count / groups + 1)));
  part = (double *) cu_temp_alloc (cb, (size_t) 3 * groups * slices * sizeof (double), "group_norm_stats");
  if (!part)
    return;
  stats_partial_kernel<<<dim3 (slices, groups), THREADS, 0, cb->stream>>> (cu_ptr (x), x.ld, cpg, hw, slices, part);
  stats_merge_kernel<<<(groups + 127) / 128, 128, 0, cb->stream>>> (part, groups, slices, cu_ptr_f32 (stats));
  cu_check (cb, cudaGetLastError (), "group_norm_stats");
  cu_temp_free (cb, part);
}

/* Grid (pixel blocks, channel): y = act(x * scale + shift) with the channel's scale and shift. */
template <int V>
static __global__ void
apply_kernel (const bf16 *x, long ldx, bf16 *y, long ldy, int hw, int cpg, const float *mean_rstd,
              const bf16 *weight, const bf16 *bias, int silu)
{
  const int c = blockIdx.y, g = c / cpg;
  const float rstd = mean_rstd[2 * g + 1];
  const float scale = rstd * (weight ? __bfloat162float (weight[c]) : 1.0f);
  const float shift = (bias ? __bfloat162float (bias[c]) : 0.0f) - mean_rstd[2 * g] * scale;
  const bf16 *xp = x + c * ldx;
  bf16 *yp = y + c * ldy;
  for (long i = (blockIdx.x * (long) blockDim.x + threadIdx.x) * V; i < hw; i += (long) gridDim.x * blockDim.x * V)
    {
      float v[V];
      load_f32<V> (xp + i, v);
#pragma unroll
      for (int k = 0; k < V; k++)
        {
          float o = v[k] * scale + shift;
          v[k] = silu ? o / (1.0f + __expf (-o)) : o;
        }
      store_f32<V> (yp + i, v);
    }
}

void
cu_group_norm_apply (SdBackend *be, SdView x, SdView y, int channels, int hw, int groups, SdBuf *mean_rstd,
                     SdBuf *weight, SdBuf *bias, SdAct act)
{
  CuBackend *cb = cu_backend (be);
  const int silu = act == SD_ACT_SILU;
  unsigned blocks;

  if (channels <= 0 || hw <= 0)
    return;
  if (groups <= 0 || channels % groups || channels > 65535)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "group_norm_apply: %d channels in %d groups", channels, groups);
      return;
    }
  if (!mean_rstd->f32 || act != SD_ACT_NONE && act != SD_ACT_SILU)
    {
      cu_record (cb, SD_ERROR_ARGUMENT,
                 "group_norm_apply: needs mean/rstd from alloc_f32 and an activation of none or SiLU");
      return;
    }
  if (hw % 8 == 0 && cu_view_aligned8 (x) && cu_view_aligned8 (y))
    {
      blocks = (unsigned) MIN ((hw / 8 + THREADS - 1) / THREADS, 4096);
      apply_kernel<8><<<dim3 (blocks, channels), THREADS, 0, cb->stream>>> (
          cu_ptr (x), x.ld, cu_ptr (y), y.ld, hw, channels / groups, (const float *) mean_rstd->ptr,
          weight ? weight->ptr : NULL, bias ? bias->ptr : NULL, silu);
    }
  else
    {
      blocks = (unsigned) MIN ((hw + THREADS - 1) / THREADS, 4096);
      apply_kernel<1><<<dim3 (blocks, channels), THREADS, 0, cb->stream>>> (
          cu_ptr (x), x.ld, cu_ptr (y), y.ld, hw, channels / groups, (const float *) mean_rstd->ptr,
          weight ? weight->ptr : NULL, bias ? bias->ptr : NULL, silu);
    }
  cu_check (cb, cudaGetLastError (), "group_norm_apply");
}
