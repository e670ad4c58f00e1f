/* fuzz_png_read.c: libFuzzer target for the upscale input reader (cli/png_read.c): any input either
 * fails with a GError naming it or yields a picture within the size limit whose values lie in [0, 1].
 * Every other input has its chunk CRCs made right first, so that mutations get past libpng's CRC
 * check into its chunk readers, its decoder and our transforms (libpng itself is not instrumented). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "png_read.h"
#include "scaledit.h"

#define FUZZ_MAX_SIDE 512 /* the CLI takes 8192; smaller here keeps every run fast and small */

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Rewrites the CRC of every whole chunk after the 8-byte signature. */
static void
fix_crcs (guint8 *png, size_t size)
{
  size_t off = 8;
  while (off + 12 <= size && be32 (png + off) <= size - off - 12)
    {
      guint32 n = be32 (png + off);
      guint32 crc = (guint32) crc32 (0, png + off + 4, n + 4);
      guint8 *p = png + off + 8 + n;
      p[0] = crc >> 24;
      p[1] = crc >> 16;
      p[2] = crc >> 8;
      p[3] = crc;
      off += 12 + n;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  FILE *stream;
  guint8 *copy;
  float *rgb;
  int w = 0, h = 0;
  size_t i;

  if (size == 0)
    return 0; /* fmemopen needs a buffer */
  copy = g_memdup2 (data, size);
  if (size % 2 == 0) /* the odd ones keep their CRCs: the CRC checks are fuzzed too */
    fix_crcs (copy, size);
  stream = fmemopen (copy, size, "rb");
  if (!stream)
    abort ();
  rgb = sd_png_read_stream (stream, "fuzz", FUZZ_MAX_SIDE, &w, &h, &error);
  fclose (stream);
  g_free (copy);
  if (!rgb)
    {
      if (!error || error->domain != SD_ERROR || !g_str_has_prefix (error->message, "fuzz: "))
        abort ();
      g_error_free (error);
      return 0;
    }
  if (error || w < 1 || h < 1 || w > FUZZ_MAX_SIDE || h > FUZZ_MAX_SIDE)
    abort ();
  for (i = 0; i < (size_t) w * h * 3; i++)
    if (!(rgb[i] >= 0.0f && rgb[i] <= 1.0f))
      abort ();
  g_free (rgb);
  return 0;
}
