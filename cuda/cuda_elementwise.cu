/* cuda_elementwise.cu: the CUDA backend's elementwise ops (gated residual adds, activations,
 * products, axpby, row gathers, copies; copy and axpby also to and from f32 buffers) and the dtype
 * conversions of uploads and downloads. */
#include <cuda_fp16.h>

#include "cuda_vec.cuh"

#define THREADS 256

/* Each item is V consecutive columns of one row. */
template <int V>
static __global__ void
add_gated_kernel (bf16 *x, long ldx, const bf16 *y, long ldy, const bf16 *gate, long ldg, int rows,
                  int cols, CuSegments seg)
{
  const int per_row = cols / V;
  for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < (long) rows * per_row;
       i += (long) gridDim.x * blockDim.x)
    {
      int r = (int) (i / per_row), c = (int) (i % per_row) * V;
      float xv[V], yv[V], gv[V];
      load_f32<V> (x + r * ldx + c, xv);
      load_f32<V> (y + r * ldy + c, yv);
      if (gate)
        {
          int g = max (cu_segment_group (seg, r), 0);
          load_f32<V> (gate + g * ldg + c, gv);
#pragma unroll
          for (int k = 0; k < V; k++)
            xv[k] += gv[k] * yv[k];
        }
      else
        {
#pragma unroll
          for (int k = 0; k < V; k++)
            xv[k] += yv[k];
        }
      store_f32<V> (x + r * ldx + c, xv);
    }
}

void
cu_add_gated (SdBackend *be, SdView x, SdView y, int rows, int cols, SdView gate,
              const SdSegments *groups)
{
  CuBackend *cb = cu_backend (be);
  CuSegments seg;
  const bf16 *g = gate.buf ? cu_ptr (gate) : NULL;
  if (rows <= 0 || cols <= 0 || !cu_segments (cb, groups, &seg))
    return;
  if (cols % 8 == 0 && cu_view_aligned8 (x) && cu_view_aligned8 (y) && cu_view_aligned8 (gate))
    add_gated_kernel<8><<<cu_grid ((gsize) rows * cols / 8, THREADS), THREADS, 0, cb->stream>>> (
        cu_ptr (x), x.ld, cu_ptr (y), y.ld, g, gate.ld, rows, cols, seg);
  else
    add_gated_kernel<1><<<cu_grid ((gsize) rows * cols, THREADS), THREADS, 0, cb->stream>>> (
        cu_ptr (x), x.ld, cu_ptr (y), y.ld, g, gate.ld, rows, cols, seg);
  cu_check (cb, cudaGetLastError (), "add_gated");
}

/* y = act(x), y = x * y, y = a x + b y: one kernel, the op picked by `kind`. */
enum { EW_ACT, EW_MUL, EW_AXPBY };

template <int V>
static __global__ void
binary_kernel (int kind, const bf16 *x, long ldx, bf16 *y, long ldy, int rows, int cols, SdAct act,
               float a, float b)
{
  const int per_row = cols / V;
  for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < (long) rows * per_row;
       i += (long) gridDim.x * blockDim.x)
    {
      int r = (int) (i / per_row), c = (int) (i % per_row) * V;
      float xv[V], yv[V];
      load_f32<V> (x + r * ldx + c, xv);
      if (kind != EW_ACT)
        load_f32<V> (y + r * ldy + c, yv);
#pragma unroll
      for (int k = 0; k < V; k++)
        yv[k] = kind == EW_ACT ? cu_act (xv[k], act) : kind == EW_MUL ? xv[k] * yv[k] : a * xv[k] + b * yv[k];
      store_f32<V> (y + r * ldy + c, yv);
    }
}

static void
launch_binary (SdBackend *be, int kind, SdView x, SdView y, int rows, int cols, SdAct act, float a,
               float b, const char *what)
{
  CuBackend *cb = cu_backend (be);
  if (rows <= 0 || cols <= 0)
    return;
  if (cols % 8 == 0 && cu_view_aligned8 (x) && cu_view_aligned8 (y))
    binary_kernel<8><<<cu_grid ((gsize) rows * cols / 8, THREADS), THREADS, 0, cb->stream>>> (
        kind, cu_ptr (x), x.ld, cu_ptr (y), y.ld, rows, cols, act, a, b);
  else
    binary_kernel<1><<<cu_grid ((gsize) rows * cols, THREADS), THREADS, 0, cb->stream>>> (
        kind, cu_ptr (x), x.ld, cu_ptr (y), y.ld, rows, cols, act, a, b);
  cu_check (cb, cudaGetLastError (), what);
}

void
cu_activate (SdBackend *be, SdView x, SdView y, int rows, int cols, SdAct act)
{
  launch_binary (be, EW_ACT, x, y, rows, cols, act, 0, 0, "activate");
}

void
cu_mul (SdBackend *be, SdView x, SdView y, int rows, int cols)
{
  launch_binary (be, EW_MUL, x, y, rows, cols, SD_ACT_NONE, 0, 0, "mul");
}

/* copy (y = x) or axpby (y = a x + b y) where either side is an alloc_f32 buffer. */
template <typename TX, typename TY>
static __global__ void
mixed_kernel (int axpby, const TX *x, long ldx, TY *y, long ldy, int rows, int cols, float a, float b)
{
  for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < (long) rows * cols;
       i += (long) gridDim.x * blockDim.x)
    {
      const long r = i / cols, c = i % cols;
      float v = load1 (x + r * ldx + c);
      if (axpby)
        v = a * v + b * load1 (y + r * ldy + c);
      store1 (y + r * ldy + c, v);
    }
}

static void
launch_mixed (CuBackend *cb, int axpby, SdView x, SdView y, int rows, int cols, float a, float b)
{
  const unsigned grid = cu_grid ((gsize) rows * cols, THREADS);
  if (x.buf->f32 && y.buf->f32)
    mixed_kernel<<<grid, THREADS, 0, cb->stream>>> (axpby, cu_ptr_f32 (x), x.ld, cu_ptr_f32 (y), y.ld, rows, cols, a, b);
  else if (x.buf->f32)
    mixed_kernel<<<grid, THREADS, 0, cb->stream>>> (axpby, cu_ptr_f32 (x), x.ld, cu_ptr (y), y.ld, rows, cols, a, b);
  else
    mixed_kernel<<<grid, THREADS, 0, cb->stream>>> (axpby, cu_ptr (x), x.ld, cu_ptr_f32 (y), y.ld, rows, cols, a, b);
  cu_check (cb, cudaGetLastError (), axpby ? "axpby (f32)" : "copy (f32)");
}

void
cu_axpby (SdBackend *be, float a, SdView x, float b, SdView y, int rows, int cols)
{
  if (rows > 0 && cols > 0 && (x.buf->f32 || y.buf->f32))
    launch_mixed (cu_backend (be), 1, x, y, rows, cols, a, b);
  else
    launch_binary (be, EW_AXPBY, x, y, rows, cols, SD_ACT_NONE, a, b, "axpby");
}

template <int V>
static __global__ void
gather_kernel (const bf16 *src, long lds, bf16 *dst, long ldd, const int *idx, int n, int cols)
{
  const int per_row = cols / V;
  for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < (long) n * per_row;
       i += (long) gridDim.x * blockDim.x)
    {
      int r = (int) (i / per_row), c = (int) (i % per_row) * V;
      const bf16 *s = src + idx[r] * lds + c;
      bf16 *d = dst + r * ldd + c;
      if constexpr (V == 8)
        *reinterpret_cast<uint4 *> (d) = *reinterpret_cast<const uint4 *> (s);
      else
        *d = *s;
    }
}

void
cu_gather_rows (SdBackend *be, SdView src, SdView dst, const int *idx, int n, int cols)
{
  CuBackend *cb = cu_backend (be);
  int *didx;
  if (n <= 0 || cols <= 0)
    return;
  didx = (int *) cu_temp_alloc (cb, n * sizeof (int), "gather_rows indices");
  if (!didx)
    return;
  cu_check (cb, cudaMemcpyAsync (didx, idx, n * sizeof (int), cudaMemcpyHostToDevice, cb->stream),
            "gather_rows indices");
  if (cols % 8 == 0 && cu_view_aligned8 (src) && cu_view_aligned8 (dst))
    gather_kernel<8><<<cu_grid ((gsize) n * cols / 8, THREADS), THREADS, 0, cb->stream>>> (
        cu_ptr (src), src.ld, cu_ptr (dst), dst.ld, didx, n, cols);
  else
    gather_kernel<1><<<cu_grid ((gsize) n * cols, THREADS), THREADS, 0, cb->stream>>> (
        cu_ptr (src), src.ld, cu_ptr (dst), dst.ld, didx, n, cols);
  cu_check (cb, cudaGetLastError (), "gather_rows");
  cu_temp_free (cb, didx);
}

void
cu_copy (SdBackend *be, SdView src, SdView dst, int rows, int cols)
{
  CuBackend *cb = cu_backend (be);
  if (rows <= 0 || cols <= 0)
    return;
  if (src.buf->f32 || dst.buf->f32)
    {
      launch_mixed (cb, 0, src, dst, rows, cols, 0, 0);
      return;
    }
  cu_check (cb,
            cudaMemcpy2DAsync (cu_ptr (dst), (size_t) dst.ld * sizeof (bf16), cu_ptr (src),
                               (size_t) src.ld * sizeof (bf16), (size_t) cols * sizeof (bf16), rows,
                               cudaMemcpyDeviceToDevice, cb->stream),
            "copy");
}

static __global__ void
to_bf16_kernel (const void *src, int dtype, bf16 *dst, gsize n)
{
  for (gsize i = blockIdx.x * (gsize) blockDim.x + threadIdx.x; i < n; i += (gsize) gridDim.x * blockDim.x)
    dst[i] = dtype == SD_DTYPE_F32 ? __float2bfloat16_rn (((const float *) src)[i])
                                   : __float2bfloat16_rn (__half2float (((const __half *) src)[i]));
}

static __global__ void
to_f32_kernel (const bf16 *src, float *dst, gsize n)
{
  for (gsize i = blockIdx.x * (gsize) blockDim.x + threadIdx.x; i < n; i += (gsize) gridDim.x * blockDim.x)
    dst[i] = __bfloat162float (src[i]);
}

void
cu_convert_to_bf16 (CuBackend *cb, const void *src, SdDType dtype, bf16 *dst, gsize n)
{
  to_bf16_kernel<<<cu_grid (n, THREADS), THREADS, 0, cb->stream>>> (src, dtype, dst, n);
  cu_check (cb, cudaGetLastError (), "converting to bf16");
}

void
cu_convert_to_f32 (CuBackend *cb, const bf16 *src, float *dst, gsize n)
{
  to_f32_kernel<<<cu_grid (n, THREADS), THREADS, 0, cb->stream>>> (src, dst, n);
  cu_check (cb, cudaGetLastError (), "converting to f32");
}
