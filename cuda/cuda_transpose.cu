/* cuda_transpose.cu: the CUDA backend's tiled 2-D transpose through shared memory
 * (CHW <-> pixels x channels). */
#include "cuda_vec.cuh"

#define TILE 32
#define ROWS 8

/* Block (row tile, column tile): dst[c][r] = src[r][c]. */
static __global__ void
transpose_kernel (const bf16 *src, long lds, bf16 *dst, long ldd, int rows, int cols)
{
  __shared__ bf16 tile[TILE][TILE + 1];
  const int r0 = blockIdx.x * TILE, c0 = blockIdx.y * TILE;
  for (int k = threadIdx.y; k < TILE; k += ROWS)
    {
      int r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols)
        tile[k][threadIdx.x] = src[r * lds + c];
    }
  __syncthreads ();
  for (int k = threadIdx.y; k < TILE; k += ROWS)
    {
      int c = c0 + k, r = r0 + threadIdx.x;
      if (r < rows && c < cols)
        dst[c * ldd + r] = tile[threadIdx.x][k];
    }
}

void
cu_transpose (SdBackend *be, SdView src, SdView dst, int rows, int cols)
{
  CuBackend *cb = cu_backend (be);
  if (rows <= 0 || cols <= 0)
    return;
  if ((cols + TILE - 1) / TILE > 65535)
    {
      cu_record (cb, SD_ERROR_ARGUMENT, "transpose: %d columns is more than the kernel's grid takes", cols);
      return;
    }
  transpose_kernel<<<dim3 ((rows + TILE - 1) / TILE, (cols + TILE - 1) / TILE), dim3 (TILE, ROWS), 0, cb->stream>>> (
      cu_ptr (src), src.ld, cu_ptr (dst), dst.ld, rows, cols);
  cu_check (cb, cudaGetLastError (), "transpose");
}
