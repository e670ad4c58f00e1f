/* flux_embed.c: FLUX's host-side embedding math: sinusoidal timestep embeddings and the rotary
 * (RoPE) cos/sin tables of 3-axis position ids. */
#include <math.h>

#include "flux.h"

void
sd_timestep_embedding (float t, int dim, float *out)
{
  const int half = dim / 2;
  int i;
  for (i = 0; i < half; i++)
    {
      /* f32 throughout, as torch computes it: exp(-ln(10000) * i / half) */
      float exponent = (float) (-logf (10000.0f) * (float) i) / (float) half;
      float arg = t * expf (exponent);
      out[i] = cosf (arg);        /* flip_sin_to_cos: cos first */
      out[half + i] = sinf (arg);
    }
}

void
sd_rope_tables (const float *ids, int n, const int axes_dims[3], double theta, float *cos_out, float *sin_out)
{
  int half = (axes_dims[0] + axes_dims[1] + axes_dims[2]) / 2;
  int r;

#pragma omp parallel for schedule(static)
  for (r = 0; r < n; r++)
    {
      int a, i, col = 0;
      for (a = 0; a < 3; a++)
        {
          double pos = ids[(gsize) r * 3 + a];
          for (i = 0; i < axes_dims[a] / 2; i++, col++)
            {
              /* f64 frequencies and angles, as diffusers computes them */
              double freq = 1.0 / pow (theta, (2.0 * i) / axes_dims[a]);
              double angle = pos * freq;
              cos_out[(gsize) r * half + col] = (float) cos (angle);
              sin_out[(gsize) r * half + col] = (float) sin (angle);
            }
        }
    }
}
