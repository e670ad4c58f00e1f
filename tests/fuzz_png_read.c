/* fuzz_png_read.c: libFuzzer target for the upscale input reader (cli/png_read.c): any input either
 * fails with a GError naming it or yields a picture within the size limit whose values lie in [0, 1]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "png_read.h"
#include "scaledit.h"

#define FUZZ_MAX_SIDE 512 /* the CLI takes 8192; smaller here keeps every run fast and small */

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  FILE *stream;
  float *rgb;
  int w = 0, h = 0;
  size_t i;

  if (size == 0)
    return 0; /* fmemopen needs a buffer */
  stream = fmemopen ((void *) data, size, "rb");
  if (!stream)
    abort ();
  rgb = sd_png_read_stream (stream, "fuzz", FUZZ_MAX_SIDE, &w, &h, &error);
  fclose (stream);
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
