/* cpu_resample.c: the CPU backend's nearest 2x upsampling (with an odd-offset crop for tiles). */
#include "cpu_internal.h"

void
cpu_upsample_nearest2x (SdBackend *be, SdView x, int channels, int h, int w, SdView y, int h_out,
                        int w_out, int oy, int ox)
{
  int task;

#pragma omp parallel for schedule(static)
  for (task = 0; task < channels * h_out; task++)
    {
      const int c = task / h_out, i = task % h_out;
      const float *src = cpu_ptr (x) + (gsize) c * x.ld + (gsize) ((i + oy) >> 1) * w;
      float *dst = cpu_ptr (y) + (gsize) c * y.ld + (gsize) i * w_out;
      int j;
      for (j = 0; j < w_out; j++)
        dst[j] = src[(j + ox) >> 1];
    }
}
