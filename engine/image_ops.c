/* image_ops.c: host-side image work of the pipeline: torch-style bicubic resizing, the fixed
 * unsharp mask of the handover, latent patchify/unpatchify, and the final sRGB crop. */
#include <math.h>
#include <string.h>

#include "image_ops.h"
#include "scaledit.h"

static void
cubic_weights (float t, float w[4])
{
  const float A = -0.75f;
  float x;
  x = t + 1.0f;
  w[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  x = t;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 1.0f - t;
  w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 2.0f - t;
  w[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/* For every output index: the first of 4 source indices (unclamped) and the 4 weights. */
static void
axis_taps (int in, int out, int *first, float *weights)
{
  const float scale = (float) in / out;
  int i;
  for (i = 0; i < out; i++)
    {
      float src = scale * (i + 0.5f) - 0.5f;
      float f = floorf (src);
      first[i] = (int) f - 1;
      cubic_weights (src - f, weights + 4 * i);
    }
}

static inline int
clampi (int v, int hi)
{
  return v < 0 ? 0 : v > hi ? hi : v;
}

/* n floats, or NULL with an error naming what they were for. */
static float *
try_floats (gsize n, const char *what, GError **error)
{
  float *p = g_try_new (float, MAX (n, 1));
  if (!p)
    g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "out of host memory for %s (%.1f MiB)", what,
                 n * sizeof (float) / 1048576.0);
  return p;
}

float *
sd_resize_bicubic (const float *src, int c, int w, int h, int ow, int oh, GError **error)
{
  float *out = try_floats ((gsize) c * ow * oh, "a resized image", error);
  int *fx, *fy;
  float *wx, *wy;
  int ch;

  if (!out)
    return NULL;
  fx = g_new (int, ow);
  fy = g_new (int, oh);
  wx = g_new (float, 4 * (gsize) ow);
  wy = g_new (float, 4 * (gsize) oh);

  axis_taps (w, ow, fx, wx);
  axis_taps (h, oh, fy, wy);
  for (ch = 0; ch < c; ch++)
    {
      const float *s = src + (gsize) ch * w * h;
      float *d = out + (gsize) ch * ow * oh;
      int y;
#pragma omp parallel for schedule(static)
      for (y = 0; y < oh; y++)
        {
          int x, k, j;
          for (x = 0; x < ow; x++)
            {
              float acc = 0;
              for (k = 0; k < 4; k++)
                {
                  const float *row = s + (gsize) clampi (fy[y] + k, h - 1) * w;
                  float racc = 0;
                  for (j = 0; j < 4; j++)
                    racc += wx[4 * x + j] * row[clampi (fx[x] + j, w - 1)];
                  acc += wy[4 * y + k] * racc;
                }
              d[(gsize) y * ow + x] = acc;
            }
        }
    }
  g_free (fx);
  g_free (fy);
  g_free (wx);
  g_free (wy);
  return out;
}

gboolean
sd_unsharp_mask (float *img, int c, int w, int h, float amount, GError **error)
{
  const int R = 3;
  float k[2 * 3 + 1], sum = 0;
  float *tmp = try_floats ((gsize) w * h, "the unsharp mask", error), *blur;
  int i, ch;

  if (!tmp)
    return FALSE;
  if (!(blur = try_floats ((gsize) w * h, "the unsharp mask", error)))
    {
      g_free (tmp);
      return FALSE;
    }

  for (i = -R; i <= R; i++)
    sum += k[i + R] = expf (-0.5f * i * i); /* sigma 1 */
  for (i = 0; i <= 2 * R; i++)
    k[i] /= sum;
  for (ch = 0; ch < c; ch++)
    {
      float *p = img + (gsize) ch * w * h;
      int y;
#pragma omp parallel for schedule(static)
      for (y = 0; y < h; y++)
        {
          int x, j;
          for (x = 0; x < w; x++)
            {
              float a = 0;
              for (j = -R; j <= R; j++)
                a += k[j + R] * p[(gsize) y * w + clampi (x + j, w - 1)];
              tmp[(gsize) y * w + x] = a;
            }
        }
#pragma omp parallel for schedule(static)
      for (y = 0; y < h; y++)
        {
          int x, j;
          for (x = 0; x < w; x++)
            {
              float a = 0;
              for (j = -R; j <= R; j++)
                a += k[j + R] * tmp[(gsize) clampi (y + j, h - 1) * w + x];
              blur[(gsize) y * w + x] = a;
            }
        }
      for (i = 0; i < w * h; i++)
        p[i] = CLAMP (p[i] + amount * (p[i] - blur[i]), -1.0f, 1.0f);
    }
  g_free (tmp);
  g_free (blur);
  return TRUE;
}

/* Copies between the CHW latent and the packed tokens, in the direction `pack` says. */
static void
latent_tokens (float *latent, int ch, int rows, int cols, float *tokens, gboolean pack)
{
  const int lw = 2 * cols, lh = 2 * rows;
  int r;
#pragma omp parallel for schedule(static)
  for (r = 0; r < rows; r++)
    {
      int c, k, dy, dx;
      for (c = 0; c < cols; c++)
        for (k = 0; k < ch; k++)
          for (dy = 0; dy < 2; dy++)
            for (dx = 0; dx < 2; dx++)
              {
                float *t = tokens + ((gsize) r * cols + c) * ch * 4 + k * 4 + dy * 2 + dx;
                float *l = latent + (gsize) k * lw * lh + (gsize) (2 * r + dy) * lw + 2 * c + dx;
                if (pack)
                  *t = *l;
                else
                  *l = *t;
              }
    }
}

void
sd_latent_pack (const float *latent, int ch, int rows, int cols, float *tokens)
{
  latent_tokens ((float *) latent, ch, rows, cols, tokens, TRUE);
}

void
sd_latent_unpack (const float *tokens, int ch, int rows, int cols, float *latent)
{
  latent_tokens (latent, ch, rows, cols, (float *) tokens, FALSE);
}

float *
sd_image_to_rgb (const float *chw, int full_w, int full_h, int w, int h, GError **error)
{
  float *rgb = try_floats ((gsize) w * h * 3, "the picture's pixels", error);
  int y;
  if (!rgb)
    return NULL;
#pragma omp parallel for schedule(static)
  for (y = 0; y < h; y++)
    {
      int x, c;
      for (x = 0; x < w; x++)
        for (c = 0; c < 3; c++)
          rgb[((gsize) y * w + x) * 3 + c]
              = CLAMP (chw[(gsize) c * full_w * full_h + (gsize) y * full_w + x] * 0.5f + 0.5f, 0.0f, 1.0f);
    }
  return rgb;
}

float *
sd_rgb_to_image (const float *rgb, int w, int h, GError **error)
{
  float *chw = try_floats ((gsize) w * h * 3, "the input image", error);
  gsize i, n = (gsize) w * h;
  int c;
  if (!chw)
    return NULL;
  for (c = 0; c < 3; c++)
    for (i = 0; i < n; i++)
      chw[c * n + i] = rgb[i * 3 + c] * 2.0f - 1.0f;
  return chw;
}
