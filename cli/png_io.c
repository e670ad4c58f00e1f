/* png_io.c: writing the result as PNG (8 or 16 bits, with a `parameters` text chunk) and reading
 * an upscale input, through libpng. */
#include <errno.h>
#include <glib/gstdio.h>
#include <png.h>
#include <stdio.h>

#include "png_io.h"
#include "scaledit.h"

gboolean
sd_png_write (const char *path, const float *rgb, int w, int h, int depth, const char *parameters, GError **error)
{
  char *tmp = g_strconcat (path, ".part", NULL);
  FILE *f = g_fopen (tmp, "wb");
  png_structp png = NULL;
  png_infop info = NULL;
  guint8 *row = NULL;
  gboolean ok = FALSE;
  int y, x;

  if (!f)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot write: %s", path, g_strerror (errno));
      g_free (tmp);
      return FALSE;
    }
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (!info || setjmp (png_jmpbuf (png)))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: libpng failed to write the image", path);
      goto out;
    }
  png_init_io (png, f);
  png_set_IHDR (png, info, w, h, depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB_gAMA_and_cHRM (png, info, PNG_sRGB_INTENT_PERCEPTUAL);
  if (parameters)
    {
      png_text t = { 0 };
      t.compression = PNG_TEXT_COMPRESSION_NONE;
      t.key = (char *) "parameters";
      t.text = (char *) parameters;
      png_set_text (png, info, &t, 1);
    }
  png_write_info (png, info);
  row = g_malloc ((gsize) w * 3 * (depth / 8));
  for (y = 0; y < h; y++)
    {
      for (x = 0; x < w * 3; x++)
        {
          float v = CLAMP (rgb[(gsize) y * w * 3 + x], 0.0f, 1.0f);
          if (depth == 16)
            {
              guint16 q = (guint16) (v * 65535.0f + 0.5f);
              row[2 * x] = q >> 8; /* PNG is big-endian */
              row[2 * x + 1] = q & 0xff;
            }
          else
            row[x] = (guint8) (v * 255.0f + 0.5f);
        }
      png_write_row (png, row);
    }
  png_write_end (png, info);
  ok = TRUE;
out:
  png_destroy_write_struct (&png, &info);
  fclose (f);
  g_free (row);
  if (ok && g_rename (tmp, path) != 0)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot rename: %s", path, g_strerror (errno));
      ok = FALSE;
    }
  if (!ok)
    g_unlink (tmp);
  g_free (tmp);
  return ok;
}

float *
sd_png_read (const char *path, int *w, int *h, GError **error)
{
  png_image img = { 0 };
  guint8 *px;
  float *rgb;
  gsize i, n;

  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file (&img, path))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot read as PNG: %s", path, img.message);
      return NULL;
    }
  img.format = PNG_FORMAT_RGB; /* 8-bit sRGB */
  n = (gsize) img.width * img.height * 3;
  px = g_try_malloc (n);
  if (!px || !png_image_finish_read (&img, NULL, px, 0, NULL))
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot decode the PNG: %s", path, img.message);
      g_free (px);
      png_image_free (&img);
      return NULL;
    }
  rgb = g_new (float, n);
  for (i = 0; i < n; i++)
    rgb[i] = px[i] / 255.0f;
  g_free (px);
  *w = (int) img.width;
  *h = (int) img.height;
  return rgb;
}
