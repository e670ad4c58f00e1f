/* png_rows.c: an image's rows quantized and filtered (see png_rows.h). Every row is filtered all
 * five ways and the one with the least sum of absolute (signed-byte) values is kept, as libpng does
 * by default; the row above the first counts as zeros, as the PNG specification says. */
#include <stdlib.h>
#include <string.h>

#include "png_rows.h"

enum { FILTER_NONE, FILTER_SUB, FILTER_UP, FILTER_AVERAGE, FILTER_PAETH, N_FILTERS };

struct SdPngRows {
  const float *rgb;
  int w, depth, bpp;
  gsize len;                   /* the samples' bytes in a row */
  int y;                       /* the next row */
  guint8 *above, *row;         /* rows y - 1 and y quantized */
  guint8 *filtered[N_FILTERS]; /* row y filtered each way, after its filter type byte */
};

SdPngRows *
sd_png_rows_new (const float *rgb, int w, int depth)
{
  SdPngRows *rows = g_new0 (SdPngRows, 1);
  int f;

  rows->rgb = rgb;
  rows->w = w;
  rows->depth = depth;
  rows->bpp = 3 * depth / 8;
  rows->len = (gsize) w * rows->bpp;
  rows->above = g_malloc0 (rows->len);
  rows->row = g_malloc (rows->len);
  for (f = 0; f < N_FILTERS; f++)
    {
      rows->filtered[f] = g_malloc (1 + rows->len);
      rows->filtered[f][0] = f;
    }
  return rows;
}

gsize
sd_png_rows_stride (SdPngRows *rows)
{
  return 1 + rows->len;
}

static float
clamp01 (float v)
{
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN gives 0 */
}

static void
quantize (SdPngRows *rows, int y, guint8 *out)
{
  const float *rgb = rows->rgb + (gsize) y * rows->w * 3;
  gsize i, n = (gsize) rows->w * 3;

  if (rows->depth == 16)
    for (i = 0; i < n; i++)
      {
        guint16 q = (guint16) (clamp01 (rgb[i]) * 65535.0f + 0.5f);
        out[2 * i] = q >> 8; /* PNG is big-endian */
        out[2 * i + 1] = q & 0xff;
      }
  else
    for (i = 0; i < n; i++)
      out[i] = (guint8) (clamp01 (rgb[i]) * 255.0f + 0.5f);
}

void
sd_png_rows_seek (SdPngRows *rows, int y)
{
  rows->y = y;
  if (y > 0)
    quantize (rows, y - 1, rows->above);
  else
    memset (rows->above, 0, rows->len);
}

static guint8
paeth (guint8 a, guint8 b, guint8 c)
{
  int p = a + b - c, pa = abs (p - a), pb = abs (p - b), pc = abs (p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Filters x (b: the row above) with filter f into out; returns libpng's measure of the result,
 * the sum of the bytes' absolute values read as signed. The first pixel's bytes have no left
 * neighbours (a and c count as 0: Average takes b / 2, Paeth of (0, b, 0) is b). */
static gsize
filter (int f, const guint8 *x, const guint8 *b, gsize len, int bpp, guint8 *out)
{
  gsize i, sum = 0, first = MIN ((gsize) bpp, len);

  switch (f)
    {
    case FILTER_NONE:
      memcpy (out, x, len);
      break;
    case FILTER_SUB:
      memcpy (out, x, first);
      for (i = first; i < len; i++)
        out[i] = x[i] - x[i - bpp];
      break;
    case FILTER_UP:
      for (i = 0; i < len; i++)
        out[i] = x[i] - b[i];
      break;
    case FILTER_AVERAGE:
      for (i = 0; i < first; i++)
        out[i] = x[i] - b[i] / 2;
      for (; i < len; i++)
        out[i] = x[i] - (x[i - bpp] + b[i]) / 2;
      break;
    default:
      for (i = 0; i < first; i++)
        out[i] = x[i] - b[i];
      for (; i < len; i++)
        out[i] = x[i] - paeth (x[i - bpp], b[i], b[i - bpp]);
      break;
    }
  for (i = 0; i < len; i++)
    sum += abs ((gint8) out[i]);
  return sum;
}

const guint8 *
sd_png_rows_next (SdPngRows *rows)
{
  gsize sum, best_sum = G_MAXSIZE;
  guint8 *swap;
  int f, best = FILTER_NONE;

  quantize (rows, rows->y, rows->row);
  for (f = 0; f < N_FILTERS; f++)
    {
      sum = filter (f, rows->row, rows->above, rows->len, rows->bpp, rows->filtered[f] + 1);
      if (sum < best_sum) /* the first of equals wins, as in libpng */
        {
          best_sum = sum;
          best = f;
        }
    }
  swap = rows->above;
  rows->above = rows->row;
  rows->row = swap;
  rows->y++;
  return rows->filtered[best];
}

void
sd_png_rows_free (SdPngRows *rows)
{
  int f;

  if (!rows)
    return;
  for (f = 0; f < N_FILTERS; f++)
    g_free (rows->filtered[f]);
  g_free (rows->above);
  g_free (rows->row);
  g_free (rows);
}
