/* cpu_groupnorm.c: the CPU backend's GroupNorm in two ops: per-group statistics of a tile (mean
 * and sum of squared deviations, in double) and the normalization with affine and optional SiLU. */
#include <math.h>

#include "cpu_internal.h"

void
cpu_group_norm_stats (SdBackend *be, SdView x, int channels, int hw, int groups, SdView stats)
{
  const int cpg = channels / groups;
  float *out = cpu_ptr (stats);
  int g;

#pragma omp parallel for schedule(dynamic)
  for (g = 0; g < groups; g++)
    {
      double sum = 0, m2 = 0, mean;
      gsize count = (gsize) cpg * hw;
      int c, i;
      for (c = g * cpg; c < (g + 1) * cpg; c++)
        {
          const float *p = cpu_ptr (x) + (gsize) c * x.ld;
          for (i = 0; i < hw; i++)
            sum += p[i];
        }
      mean = count ? sum / count : 0;
      for (c = g * cpg; c < (g + 1) * cpg; c++)
        {
          const float *p = cpu_ptr (x) + (gsize) c * x.ld;
          for (i = 0; i < hw; i++)
            {
              double d = p[i] - mean;
              m2 += d * d;
            }
        }
      out[2 * g] = (float) mean;
      out[2 * g + 1] = (float) m2;
    }
}

void
cpu_group_norm_apply (SdBackend *be, SdView x, SdView y, int channels, int hw, int groups,
                      SdBuf *mean_rstd, SdBuf *weight, SdBuf *bias, SdAct act)
{
  const int cpg = channels / groups;
  int c;

#pragma omp parallel for schedule(static)
  for (c = 0; c < channels; c++)
    {
      const int g = c / cpg;
      const float mean = mean_rstd->data[2 * g], rstd = mean_rstd->data[2 * g + 1];
      const float scale = rstd * (weight ? weight->data[c] : 1.0f);
      const float shift = (bias ? bias->data[c] : 0.0f) - mean * scale;
      const float *xp = cpu_ptr (x) + (gsize) c * x.ld;
      float *yp = cpu_ptr (y) + (gsize) c * y.ld;
      int i;
      if (act == SD_ACT_SILU)
        for (i = 0; i < hw; i++)
          {
            float v = xp[i] * scale + shift;
            yp[i] = v / (1.0f + expf (-v));
          }
      else
        for (i = 0; i < hw; i++)
          yp[i] = xp[i] * scale + shift;
    }
}
