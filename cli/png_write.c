/* png_write.c: the result as a PNG through libpng (see png_write.h): every byte goes through the
 * output file's checked writes, the `parameters` text is an iTXt chunk (UTF-8; tEXt is Latin-1). */
#include <png.h>

#include "png_write.h"
#include "scaledit.h"

/* What libpng's callbacks report back: the first error, set before libpng jumps out. */
typedef struct {
  SdOutFile *out;
  GError *error;
} WriteState;

static void
on_png_error (png_structp png, png_const_charp message)
{
  WriteState *st = png_get_error_ptr (png);
  if (!st->error)
    st->error = g_error_new (SD_ERROR, SD_ERROR_IO, "libpng cannot write the image: %s", message);
  png_longjmp (png, 1);
}

static void
on_png_warning (png_structp png, png_const_charp message)
{
}

static void
on_png_write (png_structp png, png_bytep data, png_size_t len)
{
  WriteState *st = png_get_io_ptr (png);
  if (!st->error && !sd_out_file_write (st->out, data, len, &st->error))
    png_error (png, "write failed");
}

static void
on_png_flush (png_structp png)
{
  /* the output file is flushed and synced once, when it is committed */
}

static float
clamp01 (float v)
{
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN gives 0 */
}

static void
quantize_row (const float *rgb, int n, int depth, guint8 *row)
{
  int i;
  for (i = 0; i < n; i++)
    {
      float v = clamp01 (rgb[i]);
      if (depth == 16)
        {
          guint16 q = (guint16) (v * 65535.0f + 0.5f);
          row[2 * i] = q >> 8; /* PNG is big-endian */
          row[2 * i + 1] = q & 0xff;
        }
      else
        row[i] = (guint8) (v * 255.0f + 0.5f);
    }
}

/* The writing itself; libpng's errors jump out of it to write_guarded. */
static void
write_image (png_structp png, png_infop info, WriteState *st, const float *rgb, int w, int h, int depth,
             const char *text, volatile gint *cancel, guint8 *row)
{
  int y;

  png_set_write_fn (png, st, on_png_write, on_png_flush);
  png_set_IHDR (png, info, w, h, depth, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB_gAMA_and_cHRM (png, info, PNG_sRGB_INTENT_PERCEPTUAL);
  if (text)
    {
      png_text t = { 0 };
      t.compression = PNG_ITXT_COMPRESSION_NONE;
      t.key = (char *) "parameters";
      t.text = (char *) text;
      png_set_text (png, info, &t, 1);
    }
  png_write_info (png, info);
  for (y = 0; y < h; y++)
    {
      if (cancel && g_atomic_int_get (cancel))
        {
          st->error = g_error_new (SD_ERROR, SD_ERROR_CANCELLED, "cancelled while writing the PNG");
          return;
        }
      quantize_row (rgb + (gsize) y * w * 3, w * 3, depth, row);
      png_write_row (png, row);
    }
  png_write_end (png, info);
}

/* Only png, info and st live across the setjmp here, and none of them changes after it. */
static void
write_guarded (png_structp png, png_infop info, WriteState *st, const float *rgb, int w, int h, int depth,
               const char *text, volatile gint *cancel, guint8 *row)
{
  if (setjmp (png_jmpbuf (png)) == 0)
    write_image (png, info, st, rgb, w, h, depth, text, cancel, row);
}

gboolean
sd_png_write (SdOutFile *out, const float *rgb, int w, int h, int depth, const char *parameters,
              volatile gint *cancel, GError **error)
{
  WriteState st = { out, NULL };
  png_structp png;
  png_infop info = NULL;
  guint8 *row;
  char *text;

  g_return_val_if_fail (depth == 8 || depth == 16, FALSE);
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  if (png)
    info = png_create_info_struct (png);
  if (!info)
    {
      png_destroy_write_struct (&png, NULL);
      g_set_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "libpng could not start writing");
      return FALSE;
    }
  row = g_malloc ((gsize) w * 3 * (depth / 8));
  text = parameters ? g_utf8_make_valid (parameters, -1) : NULL; /* a folder name may not be UTF-8 */
  write_guarded (png, info, &st, rgb, w, h, depth, text, cancel, row);
  png_destroy_write_struct (&png, &info);
  g_free (row);
  g_free (text);
  if (st.error)
    {
      g_propagate_error (error, st.error);
      return FALSE;
    }
  return TRUE;
}
