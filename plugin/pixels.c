/* pixels.c: moves pixels between GIMP drawables and the engine's float sRGB buffers through
 * GeglBuffers, band by band so that format conversion needs little memory. */
#include "pixels.h"

/* Rows converted at a time. */
#define BAND_ROWS 128

float *
sd_drawable_read_rgb (GimpDrawable *drawable, int x, int y, int width, int height)
{
  GeglBuffer *buffer = gimp_drawable_get_buffer (drawable);
  const Babl *format = babl_format ("R'G'B' float");
  float *rgb = g_new (float, (gsize) width * height * 3);
  int row;

  for (row = 0; row < height; row += BAND_ROWS)
    {
      int rows = MIN (BAND_ROWS, height - row);
      gegl_buffer_get (buffer, GEGL_RECTANGLE (x, y + row, width, rows), 1.0, format,
                       rgb + (gsize) row * width * 3, GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
    }
  g_object_unref (buffer);
  return rgb;
}

void
sd_drawable_write_rgb (GimpDrawable *drawable, const float *rgb, int width, int height)
{
  GeglBuffer *buffer = gimp_drawable_get_buffer (drawable);
  const Babl *format = babl_format ("R'G'B' float");
  int row;

  for (row = 0; row < height; row += BAND_ROWS)
    {
      int rows = MIN (BAND_ROWS, height - row);
      gegl_buffer_set (buffer, GEGL_RECTANGLE (0, row, width, rows), 0, format,
                       rgb + (gsize) row * width * 3, GEGL_AUTO_ROWSTRIDE);
    }
  gegl_buffer_flush (buffer);
  g_object_unref (buffer);
  gimp_drawable_update (drawable, 0, 0, width, height);
}
