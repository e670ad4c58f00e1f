/* cpu_transpose.c: the CPU backend's blocked 2-D transpose (CHW <-> pixels x channels). */
#include "cpu_internal.h"

#define TILE 32

void
cpu_transpose (SdBackend *be, SdView src, SdView dst, int rows, int cols)
{
  const int n_rb = (rows + TILE - 1) / TILE, n_cb = (cols + TILE - 1) / TILE;
  int task;

#pragma omp parallel for schedule(static)
  for (task = 0; task < n_rb * n_cb; task++)
    {
      const int r0 = (task / n_cb) * TILE, c0 = (task % n_cb) * TILE;
      const int r1 = MIN (rows, r0 + TILE), c1 = MIN (cols, c0 + TILE);
      int r, c;
      for (c = c0; c < c1; c++)
        {
          float *d = cpu_ptr (dst) + (gsize) c * dst.ld;
          for (r = r0; r < r1; r++)
            d[r] = cpu_ptr (src)[(gsize) r * src.ld + c];
        }
    }
}
