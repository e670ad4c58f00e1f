/* png_write.c: the result as a PNG (see png_write.h): libpng writes the signature and the header
 * chunks, the `parameters` text as an iTXt chunk (UTF-8; tEXt is Latin-1); the image data is
 * deflated on all threads by png_idat.c; libpng ends the file. Every byte goes through the output
 * file's checked writes. */
#include <png.h>

#include "png_idat.h"
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

/* The writing itself; libpng's errors jump out of it to write_guarded (never from inside
 * sd_png_write_idat's threads, which do not call libpng). */
static void
write_image (png_structp png, png_infop info, WriteState *st, const float *rgb, int w, int h, int depth,
             const char *text, volatile gint *cancel)
{
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
  if (!sd_png_write_idat (st->out, rgb, w, h, depth, cancel, &st->error))
    return;
  png_write_chunk (png, (png_const_bytep) "IEND", NULL, 0);
}

/* Only png, info and st live across the setjmp here, and none of them changes after it. */
static void
write_guarded (png_structp png, png_infop info, WriteState *st, const float *rgb, int w, int h, int depth,
               const char *text, volatile gint *cancel)
{
  if (setjmp (png_jmpbuf (png)) == 0)
    write_image (png, info, st, rgb, w, h, depth, text, cancel);
}

gboolean
sd_png_write (SdOutFile *out, const float *rgb, int w, int h, int depth, const char *parameters,
              volatile gint *cancel, GError **error)
{
  WriteState st = { out, NULL };
  png_structp png;
  png_infop info = NULL;
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
  text = parameters ? g_utf8_make_valid (parameters, -1) : NULL; /* a folder name may not be UTF-8 */
  write_guarded (png, info, &st, rgb, w, h, depth, text, cancel);
  png_destroy_write_struct (&png, &info);
  g_free (text);
  if (st.error)
    {
      g_propagate_error (error, st.error);
      return FALSE;
    }
  return TRUE;
}
