/* cpu_norm.c: the CPU backend's LayerNorm (with AdaLN modulation), RMSNorm and per-head
 * RMSNorm + rotary embedding. */
#include <math.h>

#include "cpu_internal.h"

int
sd_segments_group (const SdSegments *s, int r)
{
  int i;
  if (!s)
    return 0;
  for (i = 0; i < s->n_seg; i++)
    if (r >= s->seg[i].start && r < s->seg[i].start + s->seg[i].count)
      return s->seg[i].group;
  return -1;
}

void
cpu_layer_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight,
                SdBuf *bias, const SdModulation *mod)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      const float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      const float *shift = NULL, *scale = NULL;
      double sum = 0, sq = 0, mean, var;
      float rstd;
      int c;

      for (c = 0; c < dim; c++)
        sum += xr[c];
      mean = sum / dim;
      for (c = 0; c < dim; c++)
        sq += (xr[c] - mean) * (xr[c] - mean);
      var = sq / dim;
      rstd = (float) (1.0 / sqrt (var + eps));
      if (mod && mod->scale.buf)
        {
          int g = sd_segments_group (&mod->groups, r);
          if (g < 0)
            g = 0;
          shift = cpu_ptr (mod->shift) + (gsize) g * mod->shift.ld;
          scale = cpu_ptr (mod->scale) + (gsize) g * mod->scale.ld;
        }
      for (c = 0; c < dim; c++)
        {
          float v = (float) (xr[c] - mean) * rstd;
          if (weight)
            v *= weight->data[c];
          if (bias)
            v += bias->data[c];
          if (scale)
            v = v * (1.0f + scale[c]) + shift[c];
          yr[c] = v;
        }
    }
}

void
cpu_rms_norm (SdBackend *be, SdView x, SdView y, int rows, int dim, float eps, SdBuf *weight)
{
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      const float *xr = cpu_ptr (x) + (gsize) r * x.ld;
      float *yr = cpu_ptr (y) + (gsize) r * y.ld;
      double sq = 0;
      float rs;
      int c;

      for (c = 0; c < dim; c++)
        sq += (double) xr[c] * xr[c];
      rs = (float) (1.0 / sqrt (sq / dim + eps));
      for (c = 0; c < dim; c++)
        yr[c] = xr[c] * rs * (weight ? weight->data[c] : 1.0f);
    }
}

void
cpu_head_norm_rope (SdBackend *be, SdView x, int rows, int heads, int head_dim, float eps,
                    SdBuf *weight, SdBuf *cos, SdBuf *sin)
{
  int r;
  int half = head_dim / 2;

#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      int h, c;
      for (h = 0; h < heads; h++)
        {
          float *v = cpu_ptr (x) + (gsize) r * x.ld + (gsize) h * head_dim;
          if (weight)
            {
              double sq = 0;
              float rs;
              for (c = 0; c < head_dim; c++)
                sq += (double) v[c] * v[c];
              rs = (float) (1.0 / sqrt (sq / head_dim + eps));
              for (c = 0; c < head_dim; c++)
                v[c] = v[c] * rs * weight->data[c];
            }
          if (cos)
            {
              const float *cr = cos->data + (gsize) r * half;
              const float *sr = sin->data + (gsize) r * half;
              for (c = 0; c < half; c++)
                {
                  float a = v[2 * c], b = v[2 * c + 1];
                  v[2 * c] = a * cr[c] - b * sr[c];
                  v[2 * c + 1] = b * cr[c] + a * sr[c];
                }
            }
        }
    }
}
