/* cmd_upscale.c: `scaledit upscale`: a PNG picture, read after its size is checked, made 2 or 4
 * times larger (or to a --width and --height in its proportions) by Scale-DiT's detail pass. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "png_read.h"
#include "render.h"

/* The largest input side: --scale 2 makes it the engine's largest output, 16384. */
#define MAX_INPUT_SIDE 8192
#define MIN_OUTPUT_SIDE 64
#define MAX_OUTPUT_SIDE 16384

/* The output size from --scale, or --width and --height when they keep the input's aspect (within
 * 1%, and a pixel of rounding). */
static gboolean
output_size (SdRenderOptions *o, int in_w, int in_h, GError **error)
{
  SdRequest *q = &o->request;
  double expected_h;

  if (o->scale)
    {
      q->width = in_w * o->scale;
      q->height = in_h * o->scale;
      if (MIN (q->width, q->height) < MIN_OUTPUT_SIDE || MAX (q->width, q->height) > MAX_OUTPUT_SIDE)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "--scale %d: the %dx%d input would become %dx%d, but each side must be between %d and %d "
                       "pixels", o->scale, in_w, in_h, q->width, q->height, MIN_OUTPUT_SIDE, MAX_OUTPUT_SIDE);
          return FALSE;
        }
      return TRUE;
    }
  expected_h = (double) o->width * in_h / in_w;
  if (fabs (o->height - expected_h) > MAX (1.0, 0.01 * expected_h))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--width %d --height %d would stretch the %dx%d input; keep its proportions (--height %d for "
                   "that width) or use --scale 2 or 4", o->width, o->height, in_w, in_h, (int) (expected_h + 0.5));
      return FALSE;
    }
  q->width = o->width;
  q->height = o->height;
  return TRUE;
}

int
cmd_upscale (int argc, char **argv)
{
  SdRenderOptions o;
  GError *error = NULL;
  float *input = NULL;
  int rc = 2, w = 0, h = 0;

  if (!sd_render_options_parse (&o, TRUE, argc, argv, &error))
    goto fail;
  rc = 1;
  if (!(input = sd_png_read (o.in, MAX_INPUT_SIDE, &w, &h, &error)))
    goto fail;
  rc = 2;
  if (!output_size (&o, w, h, &error))
    goto fail;
  o.request.init_rgb = input;
  o.request.init_width = w;
  o.request.init_height = h;
  rc = sd_render (&o);
  goto done;
fail:
  fprintf (stderr, "scaledit upscale: %s%s\n", error->message,
           error->domain == G_OPTION_ERROR ? " (scaledit upscale --help lists the options)" : "");
  g_error_free (error);
done:
  g_free (input);
  sd_render_options_clear (&o);
  return rc;
}
