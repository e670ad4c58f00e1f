/* cpu_elementwise.c: the CPU backend's elementwise ops: gated residual adds, activations,
 * products, axpby, row gathers and copies. */
#include <string.h>

#include "cpu_internal.h"

void
cpu_add_gated (SdBackend *be, SdView x, SdView y, int rows, int cols, SdView gate,
               const SdSegments *groups)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      const float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      int c;
      if (gate.buf)
        {
          int g = MAX (sd_segments_group (groups, r), 0);
          const float *gr = cpu_ptr (gate) + (gsize) g * gate.ld;
          for (c = 0; c < cols; c++)
            xr[c] += gr[c] * yr[c];
        }
      else
        for (c = 0; c < cols; c++)
          xr[c] += yr[c];
    }
}

void
cpu_activate (SdBackend *be, SdView x, SdView y, int rows, int cols, SdAct act)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      const float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      int c;
      for (c = 0; c < cols; c++)
        yr[c] = cpu_act (xr[c], act);
    }
}

void
cpu_mul (SdBackend *be, SdView x, SdView y, int rows, int cols)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      const float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      int c;
      for (c = 0; c < cols; c++)
        yr[c] *= xr[c];
    }
}

void
cpu_axpby (SdBackend *be, float a, SdView x, float b, SdView y, int rows, int cols)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      const float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      int c;
      for (c = 0; c < cols; c++)
        yr[c] = a * xr[c] + b * yr[c];
    }
}

void
cpu_gather_rows (SdBackend *be, SdView src, SdView dst, const int *idx, int n, int cols)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < n; r++)
    memcpy (cpu_ptr (dst) + (gsize) r * dst.ld, cpu_ptr (src) + (gsize) idx[r] * src.ld,
            cols * sizeof (float));
}

void
cpu_copy (SdBackend *be, SdView src, SdView dst, int rows, int cols)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    memmove (cpu_ptr (dst) + (gsize) r * dst.ld, cpu_ptr (src) + (gsize) r * src.ld,
             cols * sizeof (float));
}
