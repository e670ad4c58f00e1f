/* png_read.c: an upscale input PNG as RGB floats through libpng's transforms (see png_read.h): the
 * header is read and its size checked first, rows are decoded one at a time (all of them only for
 * an interlaced file), and every libpng error becomes a message naming the file. */
#include <errno.h>
#include <png.h>

#include "png_read.h"
#include "scaledit.h"

/* What libpng's callbacks report back (the first error, set before libpng jumps out) and what the
 * decoding allocates, freed by the caller whether or not libpng jumped out. */
typedef struct {
  FILE *stream;
  const char *name;
  GError *error;
  guint8 *pixels;
  png_bytep *rows;
  float *rgb;
} ReadState;

static void
on_png_error (png_structp png, png_const_charp message)
{
  ReadState *st = png_get_error_ptr (png);
  if (!st->error)
    st->error = g_error_new (SD_ERROR, SD_ERROR_FORMAT, "%s: corrupt PNG file (%s)", st->name, message);
  png_longjmp (png, 1);
}

static void
on_png_warning (png_structp png, png_const_charp message)
{
}

static void
on_png_read (png_structp png, png_bytep data, png_size_t len)
{
  ReadState *st = png_get_io_ptr (png);
  if (fread (data, 1, len, st->stream) == len)
    return;
  if (!st->error && ferror (st->stream))
    st->error = g_error_new (SD_ERROR, SD_ERROR_IO, "%s: cannot read: %s", st->name, g_strerror (errno));
  else if (!st->error)
    st->error = g_error_new (SD_ERROR, SD_ERROR_FORMAT, "%s: the PNG file is truncated", st->name);
  png_error (png, "read failed");
}

/* Expands every colour type and bit depth to RGB or RGBA of 8 or 16 bits. */
static void
set_transforms (png_structp png, png_infop info)
{
  int type = png_get_color_type (png, info);
  if (type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb (png);
  if ((type & PNG_COLOR_MASK_COLOR) == 0)
    {
      if (png_get_bit_depth (png, info) < 8)
        png_set_expand_gray_1_2_4_to_8 (png);
      png_set_gray_to_rgb (png);
    }
}

/* One decoded row (RGB or RGBA, 8 or 16 bits big-endian) to RGB floats; alpha is dropped. */
static void
convert_row (const guint8 *row, int w, int channels, int depth, float *rgb)
{
  int x, c;
  for (x = 0; x < w; x++)
    for (c = 0; c < 3; c++)
      {
        gsize i = (gsize) x * channels + c;
        rgb[x * 3 + c] = depth == 16 ? ((row[2 * i] << 8) | row[2 * i + 1]) / 65535.0f : row[i] / 255.0f;
      }
}

/* Decodes into st->rgb after the header passed the size check. */
static void
decode (ReadState *st, png_structp png, png_infop info, int w, int h)
{
  int passes = png_set_interlace_handling (png), channels, depth, y;
  gsize rowbytes;

  png_read_update_info (png, info);
  channels = png_get_channels (png, info);
  depth = png_get_bit_depth (png, info);
  rowbytes = png_get_rowbytes (png, info);
  if ((channels != 3 && channels != 4) || (depth != 8 && depth != 16) || rowbytes != (gsize) w * channels * depth / 8)
    png_error (png, "unexpected layout after the colour transforms");
  st->rgb = g_new (float, (gsize) w * h * 3);
  if (passes == 1)
    {
      st->pixels = g_malloc (rowbytes);
      for (y = 0; y < h; y++)
        {
          png_read_row (png, st->pixels, NULL);
          convert_row (st->pixels, w, channels, depth, st->rgb + (gsize) y * w * 3);
        }
    }
  else
    {
      /* interlaced: every pass touches every row, so the whole image is decoded first */
      st->pixels = g_malloc (rowbytes * h);
      st->rows = g_new (png_bytep, h);
      for (y = 0; y < h; y++)
        st->rows[y] = st->pixels + rowbytes * y;
      png_read_image (png, st->rows);
      for (y = 0; y < h; y++)
        convert_row (st->rows[y], w, channels, depth, st->rgb + (gsize) y * w * 3);
    }
}

/* The reading itself; libpng's errors jump out of it to read_guarded. */
static void
read_image (png_structp png, png_infop info, ReadState *st, int max_side, int *w, int *h)
{
  png_uint_32 width, height;

  png_set_read_fn (png, st, on_png_read);
  png_set_sig_bytes (png, 8);
  png_set_user_limits (png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* the size check below says more */
  png_read_info (png, info);
  width = png_get_image_width (png, info);
  height = png_get_image_height (png, info);
  if (width > (png_uint_32) max_side || height > (png_uint_32) max_side)
    {
      st->error = g_error_new (SD_ERROR, SD_ERROR_ARGUMENT,
                               "%s: the picture is %ux%u pixels, over the %d pixels a side that can be upscaled",
                               st->name, (unsigned) width, (unsigned) height, max_side);
      return;
    }
  set_transforms (png, info);
  decode (st, png, info, (int) width, (int) height);
  *w = (int) width;
  *h = (int) height;
}

/* Only png, info and st live across the setjmp here, and none of them changes after it. */
static void
read_guarded (png_structp png, png_infop info, ReadState *st, int max_side, int *w, int *h)
{
  if (setjmp (png_jmpbuf (png)) == 0)
    read_image (png, info, st, max_side, w, h);
}

float *
sd_png_read_stream (FILE *stream, const char *name, int max_side, int *w, int *h, GError **error)
{
  ReadState st = { stream, name };
  png_structp png = NULL;
  png_infop info = NULL;
  guint8 signature[8];

  if (fread (signature, 1, sizeof signature, stream) != sizeof signature || png_sig_cmp (signature, 0, 8) != 0)
    st.error = g_error_new (SD_ERROR, SD_ERROR_FORMAT, "%s: not a PNG file", name);
  else if (!(png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning))
           || !(info = png_create_info_struct (png)))
    st.error = g_error_new (SD_ERROR, SD_ERROR_OUT_OF_MEMORY, "%s: libpng could not start reading", name);
  else
    read_guarded (png, info, &st, max_side, w, h);
  png_destroy_read_struct (&png, &info, NULL);
  g_free (st.pixels);
  g_free (st.rows);
  if (st.error)
    {
      g_free (st.rgb);
      g_propagate_error (error, st.error);
      return NULL;
    }
  return st.rgb;
}

float *
sd_png_read (const char *path, int max_side, int *w, int *h, GError **error)
{
  FILE *stream = fopen (path, "rb");
  float *rgb;

  if (!stream)
    {
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: cannot open: %s", path, g_strerror (errno));
      return NULL;
    }
  rgb = sd_png_read_stream (stream, path, max_side, w, h, error);
  fclose (stream);
  return rgb;
}
