/* cuda_resample.cu: the CUDA backend's nearest 2x upsampling (with an odd-offset crop for tiles). */
#include "cuda_vec.cuh"

#define THREADS 256

/* Grid (column blocks, output row, channel). */
static __global__ void
upsample_kernel (const bf16 *x, long ldx, int w, bf16 *y, long ldy, int h_out, int w_out, int oy, int ox)
{
  const int i = blockIdx.y, c = blockIdx.z;
  const bf16 *src = x + c * ldx + (long) ((i + oy) >> 1) * w;
  bf16 *dst = y + c * ldy + (long) i * w_out;
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < w_out; j += gridDim.x * blockDim.x)
    dst[j] = src[(j + ox) >> 1];
}

void
cu_upsample_nearest2x (SdBackend *be, SdView x, int channels, int h, int w, SdView y, int h_out, int w_out,
                       int oy, int ox)
{
  CuBackend *cb = cu_backend (be);
  if (channels <= 0 || h_out <= 0 || w_out <= 0)
    return;
  if (channels > 65535 || h_out > 65535 || (h_out - 1 + oy) / 2 >= h || (w_out - 1 + ox) / 2 >= w)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "upsample_nearest2x: %d channels, %dx%d from %dx%d with offset (%d, %d)",
                 channels, w_out, h_out, w, h, ox, oy);
      return;
    }
  upsample_kernel<<<dim3 ((w_out + THREADS - 1) / THREADS, h_out, channels), THREADS, 0, cb->stream>>> (
      cu_ptr (x), x.ld, w, cu_ptr (y), y.ld, h_out, w_out, oy, ox);
  cu_check (cb, cudaGetLastError (), "upsample_nearest2x");
}
