/* test_png_io.c: the CLI's file output and PNG reading and writing (cli/out_file.c, png_write.c,
 * png_idat.c, png_rows.c, png_read.c): every PNG colour type and bit depth read as the pattern
 * tools/reference/make_png_fixtures.py draws (recomputed here), oversized headers refused before
 * decoding, corrupt files named, written files read back exactly by libpng and by
 * tools/eval/png16.py (sizes of one pixel to several strips; chunk CRCs checked by a chunk walker
 * written here, which also reads the `parameters` iTXt chunk), the same bytes on any thread count,
 * a full disk (RLIMIT_FSIZE) leaving the target as it was, no planted link followed, cancel. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <png.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <glib/gstdio.h>

#include "cli_spawn.h"
#include "out_file.h"
#include "png_read.h"
#include "png_write.h"
#include "scaledit-config.h"
#include "scaledit.h"
#include "testutil.h"

/* The fixtures' pattern: pixel (x, y) has index (x + 3y) mod 16. */
static int
pattern_index (int x, int y)
{
  return (x + 3 * y) % 16;
}

/* The colour of index p, channel c, in [0, 255]. */
static int
pattern_colour (int p, int c)
{
  return c == 0 ? 17 * p : c == 1 ? 255 - 17 * p : (85 * p) % 256;
}

/* What the reader must give for channel c of pixel (x, y) of fixture `name`. */
static float
expected_value (const char *name, int x, int y, int c)
{
  int p = pattern_index (x, y);
  if (g_str_equal (name, "gray1"))
    return (float) (p & 1);
  if (g_str_has_prefix (name, "gray2"))
    return (p & 3) / 3.0f;
  if (g_str_has_prefix (name, "gray"))
    return 17 * p / 255.0f; /* 4 bits: p / 15; 8 bits: 17p / 255; 16 bits: 17p * 257 / 65535 */
  if (g_str_has_prefix (name, "palette1"))
    p &= 1;
  else if (g_str_has_prefix (name, "palette2"))
    p &= 3;
  return pattern_colour (p, c) / 255.0f;
}

static void
test_read_every_type (void)
{
  static const char *const names[] = {
    "rgb8", "rgb16", "rgba8", "rgba16", "rgb8-interlaced", "gray1", "gray2", "gray4", "gray8", "gray16",
    "gray2-interlaced", "graya8", "graya16", "gray8-trns", "palette1", "palette2", "palette4", "palette8",
    "palette4-trns",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++)
    {
      char *rel = g_strdup_printf ("fuzz-seeds/png/%s.png", names[i]), *path = sd_test_data_path (rel);
      GError *error = NULL;
      int w = 0, h = 0, x, y, c;
      float *rgb = sd_png_read (path, 8192, &w, &h, &error);

      g_assert_no_error (error);
      g_assert_cmpint (w, ==, 16);
      g_assert_cmpint (h, ==, 8);
      for (y = 0; y < h; y++)
        for (x = 0; x < w; x++)
          for (c = 0; c < 3; c++)
            if (fabsf (rgb[(y * w + x) * 3 + c] - expected_value (names[i], x, y, c)) > 1e-6f)
              g_error ("%s: pixel (%d, %d) channel %d is %g, expected %g", names[i], x, y, c,
                       rgb[(y * w + x) * 3 + c], expected_value (names[i], x, y, c));
      g_free (rgb);
      g_free (path);
      g_free (rel);
    }
}

static void
expect_refused (const char *name, int max_side, const char *phrase)
{
  char *rel = g_strdup_printf ("fuzz-seeds/png/%s", name), *path = sd_test_data_path (rel);
  GError *error = NULL;
  int w = 0, h = 0;

  g_assert_null (sd_png_read (path, max_side, &w, &h, &error));
  g_assert_nonnull (error);
  g_test_message ("%s: %s", name, error->message);
  g_assert_true (g_str_has_prefix (error->message, path));
  if (!strstr (error->message, phrase))
    g_error ("%s: \"%s\" does not say \"%s\"", name, error->message, phrase);
  g_error_free (error);
  g_free (path);
  g_free (rel);
}

/* The size is checked from the header, before decoding: huge-header.png has no image data at all,
 * so only a header check names its size. */
static void
test_read_refused (void)
{
  char *wide = sd_test_data_path ("fuzz-seeds/png/wide-4100x100.png");
  GError *error = NULL;
  int w = 0, h = 0;
  float *rgb;

  expect_refused ("huge-header.png", 8192, "100000x100000 pixels, over the 8192 pixels a side");
  expect_refused ("wide-4100x100.png", 4096, "4100x100 pixels, over the 4096 pixels a side");
  expect_refused ("not-png.txt", 8192, ": not a PNG file");
  expect_refused ("truncated.png", 8192, ": the PNG file is truncated");
  expect_refused ("bad-crc.png", 8192, ": corrupt PNG file (IHDR: CRC error)");
  expect_refused ("bad-zlib.png", 8192, ": corrupt PNG file");
  expect_refused ("missing.png", 8192, ": cannot open: No such file or directory");
  rgb = sd_png_read (wide, 8192, &w, &h, &error);
  g_assert_no_error (error);
  g_assert_cmpint (w, ==, 4100);
  g_assert_cmpint (h, ==, 100);
  g_free (rgb);
  g_free (wide);
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* The most an IDAT chunk may hold: one strip of png_idat.c (256 KiB of filtered rows) deflated, with
 * deflate's few bytes of overhead and the zlib header and checksum. */
#define MAX_IDAT (256 * 1024 + 1024)

/* The text of the uncompressed iTXt chunk keyed `parameters` (keyword, 0, compression flag 0,
 * method, language tag, 0, translated keyword, 0, text); fails on a tEXt chunk. On the way, checks
 * every chunk's CRC, that IHDR comes first, the IDAT chunks together and IEND last, and that no
 * IDAT chunk holds more than MAX_IDAT bytes. */
static char *
itxt_parameters (const char *path)
{
  char *bytes, *text = NULL;
  gsize len, off = 8;
  int idat_runs = 0;
  gboolean in_idat = FALSE;

  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  g_assert_cmpmem (bytes, 8, "\x89PNG\r\n\x1a\n", 8);
  g_assert_cmpmem (bytes + 12, 4, "IHDR", 4);
  while (off + 12 <= len)
    {
      const guint8 *b = (const guint8 *) bytes + off, *data = b + 8;
      guint32 n = be32 (b);
      g_assert_cmpuint (off + 12 + n, <=, len);
      g_assert_cmpuint (crc32 (crc32 (0, NULL, 0), b + 4, 4 + n), ==, be32 (data + n));
      if (memcmp (b + 4, "IDAT", 4) == 0)
        {
          g_assert_cmpuint (n, <=, MAX_IDAT);
          idat_runs += !in_idat;
          in_idat = TRUE;
        }
      else
        in_idat = FALSE;
      if (memcmp (b + 4, "IEND", 4) == 0)
        g_assert_cmpuint (off + 12, ==, len);
      g_assert_false (memcmp (b + 4, "tEXt", 4) == 0);
      if (memcmp (b + 4, "iTXt", 4) == 0 && n > 13 && memcmp (data, "parameters", 11) == 0)
        {
          const guint8 *lang = data + 13, *key, *body, *end = data + n;
          g_assert_cmpint (data[11], ==, 0); /* not compressed */
          key = memchr (lang, 0, end - lang);
          g_assert_nonnull (key);
          body = memchr (key + 1, 0, end - key - 1);
          g_assert_nonnull (body);
          text = g_strndup ((const char *) body + 1, end - body - 1);
        }
      off += 12 + n;
    }
  g_assert_cmpuint (off, ==, len);
  g_assert_cmpmem (bytes + len - 8, 4, "IEND", 4);
  g_assert_cmpint (idat_runs, ==, 1);
  g_free (bytes);
  return text;
}

/* w x h RGB floats from a fixed sequence: noise, which compresses poorly. */
static float *
noise_image (int w, int h)
{
  float *rgb = g_new (float, (gsize) w * h * 3);
  guint32 state = 12345;
  gsize i;
  for (i = 0; i < (gsize) w * h * 3; i++)
    {
      state = state * 1664525u + 1013904223u;
      rgb[i] = (state >> 8) / 16777216.0f;
    }
  return rgb;
}

static gboolean
write_png (const char *path, const float *rgb, int w, int h, int depth, const char *parameters,
           volatile gint *cancel, GError **error)
{
  SdOutFile *out = sd_out_file_create (path, error);
  if (!out)
    return FALSE;
  if (!sd_png_write (out, rgb, w, h, depth, parameters, cancel, error))
    {
      sd_out_file_discard (out);
      return FALSE;
    }
  return sd_out_file_commit (out, error);
}

static void
test_write_round_trip (void)
{
  const char *params = "a café by a lake, 湖畔のカフェ\nSteps: 3, Seed: 7";
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *path = g_build_filename (dir, "out.png", NULL);
  float *rgb = noise_image (37, 21), *back;
  GError *error = NULL;
  int depth, w, h;
  gsize i;

  for (depth = 8; depth <= 16; depth += 8)
    {
      char *text;
      g_assert_true (write_png (path, rgb, 37, 21, depth, params, NULL, &error));
      g_assert_no_error (error);
      back = sd_png_read (path, 8192, &w, &h, &error);
      g_assert_no_error (error);
      g_assert_cmpint (w, ==, 37);
      g_assert_cmpint (h, ==, 21);
      for (i = 0; i < 37 * 21 * 3; i++)
        g_assert_cmpfloat (fabsf (back[i] - rgb[i]), <=, 0.5f / (depth == 8 ? 255 : 65535) + 1e-6f);
      text = itxt_parameters (path);
      g_assert_cmpstr (text, ==, params);
      g_free (text);
      g_free (back);
    }
  {
    char *names = sd_test_folder_names (dir);
    g_assert_cmpstr (names, ==, "out.png");
    g_free (names);
  }
  sd_test_folder_remove (dir);
  g_free (rgb);
  g_free (path);
  g_free (dir);
}

/* w x h RGB floats with what a writer meets: a smooth left half (long runs once filtered), noise
 * on the right, and values below 0, above 1 and NaN sprinkled over both. */
static float *
mixed_image (int w, int h)
{
  float *rgb = noise_image (w, h);
  gsize i, n = (gsize) w * h * 3;

  for (i = 0; i < n; i++)
    {
      int x = (int) (i / 3 % w), y = (int) (i / 3 / w);
      if (x < w / 2)
        rgb[i] = (float) (x + 2 * y + 40 * (i % 3)) / (w + 2 * h + 80);
      if (i % 97 == 5)
        rgb[i] = NAN;
      else if (i % 89 == 7)
        rgb[i] = i % 2 ? 1.5f : -0.25f;
    }
  return rgb;
}

/* What the file must hold for rgb: the samples big-endian, rounded, clamped, NaN as 0. */
static guint8 *
quantized (const float *rgb, gsize n, int depth)
{
  guint8 *q = g_malloc (n * depth / 8);
  gsize i;

  for (i = 0; i < n; i++)
    {
      float v = isnan (rgb[i]) ? 0.0f : CLAMP (rgb[i], 0.0f, 1.0f);
      if (depth == 16)
        {
          guint v16 = (guint) (v * 65535.0f + 0.5f);
          q[2 * i] = v16 >> 8;
          q[2 * i + 1] = v16 & 0xff;
        }
      else
        q[i] = (guint8) (v * 255.0f + 0.5f);
    }
  return q;
}

static void
on_libpng_warning (png_structp png, png_const_charp message)
{
  g_error ("libpng warns reading a written file: %s", message); /* benign errors come here too */
}

/* The samples of an RGB PNG as libpng reads them without transforms, to the end of the file. */
static guint8 *
libpng_samples (const char *path, int w, int h, int depth)
{
  FILE *f = fopen (path, "rb");
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, on_libpng_warning);
  png_infop info = png_create_info_struct (png);
  gsize stride = (gsize) w * 3 * depth / 8;
  guint8 *samples = g_malloc (stride * h);
  png_bytep *rows = g_new (png_bytep, h);
  int y;

  g_assert_nonnull (f);
  if (setjmp (png_jmpbuf (png)))
    g_error ("%s: libpng cannot read it", path);
  png_init_io (png, f);
  png_read_info (png, info);
  g_assert_cmpuint (png_get_image_width (png, info), ==, w);
  g_assert_cmpuint (png_get_image_height (png, info), ==, h);
  g_assert_cmpint (png_get_bit_depth (png, info), ==, depth);
  g_assert_cmpint (png_get_color_type (png, info), ==, PNG_COLOR_TYPE_RGB);
  g_assert_cmpint (png_get_interlace_type (png, info), ==, PNG_INTERLACE_NONE);
  g_assert_cmpuint (png_get_rowbytes (png, info), ==, stride);
  for (y = 0; y < h; y++)
    rows[y] = samples + y * stride;
  png_read_image (png, rows);
  png_read_end (png, NULL);
  png_destroy_read_struct (&png, &info, NULL);
  fclose (f);
  g_free (rows);
  return samples;
}

/* The sizes written: one pixel; 3 x 1000 and 1000 x 3, each inside one strip; pictures spanning
 * several strips of 256 KiB, the last one short (700 x 300: 124 rows a strip at 8 bits, 62 at 16;
 * 8192 x 13: 10 and 5). */
static const int write_sizes[][2] = { { 1, 1 }, { 3, 1000 }, { 1000, 3 }, { 700, 300 }, { 8192, 13 } };

/* Every size, both depths: libpng reads back exactly the quantized samples, and the parameters. */
static void
test_write_exact (void)
{
  const char *params = "a lighthouse on a cliff\nSteps: 28, Seed: 1234567";
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *path = g_build_filename (dir, "out.png", NULL);
  GError *error = NULL;
  guint i;
  int depth;

  for (i = 0; i < G_N_ELEMENTS (write_sizes); i++)
    for (depth = 8; depth <= 16; depth += 8)
      {
        int w = write_sizes[i][0], h = write_sizes[i][1];
        gsize n = (gsize) w * h * 3;
        float *rgb = mixed_image (w, h);
        guint8 *want = quantized (rgb, n, depth), *got;
        char *text;

        g_test_message ("%dx%d, %d bits", w, h, depth);
        g_assert_true (write_png (path, rgb, w, h, depth, params, NULL, &error));
        g_assert_no_error (error);
        got = libpng_samples (path, w, h, depth);
        g_assert_cmpmem (got, n * depth / 8, want, n * depth / 8);
        text = itxt_parameters (path);
        g_assert_cmpstr (text, ==, params);
        g_free (text);
        g_free (got);
        g_free (want);
        g_free (rgb);
      }
  sd_test_folder_remove (dir);
  g_free (path);
  g_free (dir);
}

/* The same files read by another reader than libpng: tools/eval/png16.py (its own chunk walk and
 * unfiltering, Python's zlib), against the quantized samples written beside them. */
static void
test_write_python_reader (void)
{
  static const char script[] =
    "import sys\n"
    "try:\n"
    "    import numpy as np\n"
    "except ImportError:\n"
    "    sys.exit(77)\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from png16 import read_png_float\n"
    "for png, raw, depth in zip(*[iter(sys.argv[2:])] * 3):\n"
    "    scale = 65535 if depth == '16' else 255\n"
    "    got = np.rint(read_png_float(png).astype(np.float64) * scale)\n"
    "    want = np.fromfile(raw, '>u2' if depth == '16' else 'u1').reshape(got.shape)\n"
    "    if not np.array_equal(got, want):\n"
    "        sys.exit(f'{png}: {np.count_nonzero(got != want)} samples differ')\n";
  const char *python = g_getenv ("SCALEDIT_TEST_PYTHON");
  char *dir, *err = NULL;
  GPtrArray *argv;
  GError *error = NULL;
  int status, depth;
  guint i;

  if (!python)
    {
      g_test_skip ("SCALEDIT_TEST_PYTHON is not set (meson test sets it)");
      return;
    }
  dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL);
  argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (python));
  g_ptr_array_add (argv, g_strdup ("-c"));
  g_ptr_array_add (argv, g_strdup (script));
  g_ptr_array_add (argv, g_build_filename (SCALEDIT_SOURCE_ROOT, "tools", "eval", NULL));
  for (i = 0; i < G_N_ELEMENTS (write_sizes); i++)
    for (depth = 8; depth <= 16; depth += 8)
      {
        int w = write_sizes[i][0], h = write_sizes[i][1];
        gsize n = (gsize) w * h * 3;
        float *rgb = mixed_image (w, h);
        guint8 *want = quantized (rgb, n, depth);
        char *name = g_strdup_printf ("%dx%d-%d", w, h, depth), *png = g_strconcat (dir, "/", name, ".png", NULL);
        char *raw = g_strconcat (dir, "/", name, ".raw", NULL);

        g_assert_true (write_png (png, rgb, w, h, depth, NULL, NULL, &error));
        g_assert_no_error (error);
        g_assert_true (g_file_set_contents (raw, (const char *) want, n * depth / 8, NULL));
        g_ptr_array_add (argv, png);
        g_ptr_array_add (argv, raw);
        g_ptr_array_add (argv, g_strdup_printf ("%d", depth));
        g_free (name);
        g_free (want);
        g_free (rgb);
      }
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
                               &status, &error));
  g_assert_no_error (error);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    g_test_skip ("the test Python has no numpy");
  else if (!g_spawn_check_wait_status (status, NULL))
    g_error ("tools/eval/png16.py does not read the written files back exactly: %s", err);
  g_free (err);
  g_ptr_array_free (argv, TRUE);
  sd_test_folder_remove (dir);
  g_free (dir);
}

/* The strips are cut the same way on any number of threads: the files are byte for byte the same. */
static void
test_write_threads (void)
{
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *path = g_build_filename (dir, "out.png", NULL);
  float *rgb = mixed_image (700, 300);
  int saved = omp_get_max_threads (), depth, threads;
  GError *error = NULL;

  for (depth = 8; depth <= 16; depth += 8)
    {
      char *first = NULL;
      gsize first_len = 0;
      for (threads = 1; threads <= 4; threads++)
        {
          char *bytes;
          gsize len;
          omp_set_num_threads (threads);
          g_assert_true (write_png (path, rgb, 700, 300, depth, "threads", NULL, &error));
          g_assert_no_error (error);
          g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
          if (first)
            {
              g_assert_cmpmem (bytes, len, first, first_len);
              g_free (bytes);
            }
          else
            {
              first = bytes;
              first_len = len;
            }
        }
      g_free (first);
    }
  omp_set_num_threads (saved);
  sd_test_folder_remove (dir);
  g_free (rgb);
  g_free (path);
  g_free (dir);
}

/* The temporary file has a new name (TARGET.XXXXXX.part), so a link planted at the old fixed name
 * TARGET.part is neither followed nor replaced, and the file it points to keeps its contents. */
static void
test_out_file_planted_link (void)
{
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *target = g_build_filename (dir, "a.png", NULL);
  char *victim = g_build_filename (dir, "victim.txt", NULL), *link = g_build_filename (dir, "a.png.part", NULL);
  char *names, *contents, *base;
  GError *error = NULL;
  SdOutFile *out;

  g_assert_true (g_file_set_contents (victim, "precious", -1, NULL));
  g_assert_cmpint (symlink (victim, link), ==, 0);
  out = sd_out_file_create (target, &error);
  g_assert_no_error (error);
  base = g_path_get_basename (sd_out_file_temp_path (out));
  g_assert_true (g_regex_match_simple ("^a\\.png\\.[A-Za-z0-9]{6}\\.part$", base, 0, 0));
  g_assert_true (g_file_test (sd_out_file_temp_path (out), G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (sd_out_file_temp_path (out), G_FILE_TEST_IS_SYMLINK));
  g_assert_true (sd_out_file_write (out, "new", 3, &error));
  g_assert_true (sd_out_file_commit (out, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (victim, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "precious");
  g_free (contents);
  g_assert_true (g_file_get_contents (target, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "new");
  g_assert_false (g_file_test (target, G_FILE_TEST_IS_SYMLINK));
  names = sd_test_folder_names (dir);
  g_assert_cmpstr (names, ==, "a.png a.png.part victim.txt");
  g_free (names);
  g_free (contents);
  g_free (base);
  sd_test_folder_remove (dir);
  g_free (link);
  g_free (victim);
  g_free (target);
  g_free (dir);
}

static void
test_out_file_unwritable_folder (void)
{
  GError *error = NULL;
  g_assert_null (sd_out_file_create ("/nonexistent-scaledit-folder/a.png", &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_assert_cmpstr (error->message, ==, "/nonexistent-scaledit-folder/a.png: cannot create a file in the folder "
                                       "/nonexistent-scaledit-folder: No such file or directory");
  g_error_free (error);
}

/* The full-disk picture: three strips of image data (290, 290 and 20 rows; png_idat.c), so that a
 * write fails in the middle of the strips, which the test's two threads deflate side by side. */
#define FULL_W 300
#define FULL_H 600

/* In a subprocess started by test_out_file_full_disk: writes a PNG to $SDPNG_TARGET with the file
 * size limited to $SDPNG_LIMIT bytes (RLIMIT_FSIZE, with SIGXFSZ ignored, makes writes past it fail
 * with EFBIG as a full disk fails with ENOSPC), which must fail naming the target and the cause. */
static void
full_disk_child (void)
{
  const char *target = g_getenv ("SDPNG_TARGET");
  struct rlimit rl;
  float *rgb;
  GError *error = NULL;

  if (!g_test_subprocess ())
    return; /* only test_out_file_full_disk runs it */
  rl.rlim_cur = rl.rlim_max = g_ascii_strtoull (g_getenv ("SDPNG_LIMIT"), NULL, 10);
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
  rgb = noise_image (FULL_W, FULL_H);
  g_assert_false (write_png (target, rgb, FULL_W, FULL_H, 8, "full disk", NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_true (g_str_has_prefix (error->message, target));
  g_assert_nonnull (strstr (error->message, g_strerror (EFBIG)));
  g_error_free (error);
  g_free (rgb);
}

/* A write that fails at any point (in the first buffer, in the middle, or only in the last flush,
 * which fclose used to do unchecked) leaves the target as it was and no temporary file. */
static void
test_out_file_full_disk (void)
{
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *target = g_build_filename (dir, "a.png", NULL);
  float *rgb = noise_image (FULL_W, FULL_H);
  GError *error = NULL;
  GStatBuf st;
  gsize limits[3];
  guint i;

  g_assert_true (write_png (target, rgb, FULL_W, FULL_H, 8, "full disk", NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (target, &st), ==, 0);
  g_assert_cmpint (st.st_size, >, 8192); /* more than one stdio buffer */
  limits[0] = 100;
  limits[1] = st.st_size / 2;
  limits[2] = st.st_size - 1;
  g_assert_true (g_file_set_contents (target, "the previous picture", -1, NULL));
  g_setenv ("SDPNG_TARGET", target, TRUE);
  for (i = 0; i < G_N_ELEMENTS (limits); i++)
    {
      char *limit = g_strdup_printf ("%" G_GSIZE_FORMAT, limits[i]), *contents, *names;
      g_setenv ("SDPNG_LIMIT", limit, TRUE);
      g_test_trap_subprocess ("/out-file/full-disk/child", 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      g_assert_true (g_file_get_contents (target, &contents, NULL, NULL));
      g_assert_cmpstr (contents, ==, "the previous picture");
      names = sd_test_folder_names (dir);
      g_assert_cmpstr (names, ==, "a.png");
      g_free (names);
      g_free (contents);
      g_free (limit);
    }
  sd_test_folder_remove (dir);
  g_free (rgb);
  g_free (target);
  g_free (dir);
}

static void
test_write_cancel (void)
{
  char *dir = g_dir_make_tmp ("sdpng-XXXXXX", NULL), *target = g_build_filename (dir, "a.png", NULL), *names;
  float *rgb = noise_image (16, 16);
  volatile gint cancel = 1;
  GError *error = NULL;

  g_assert_false (write_png (target, rgb, 16, 16, 8, NULL, &cancel, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_CANCELLED);
  g_error_free (error);
  names = sd_test_folder_names (dir);
  g_assert_cmpstr (names, ==, "");
  g_free (names);
  sd_test_folder_remove (dir);
  g_free (rgb);
  g_free (target);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/png-read/every-type", test_read_every_type);
  g_test_add_func ("/png-read/refused", test_read_refused);
  g_test_add_func ("/png-write/round-trip-itxt", test_write_round_trip);
  g_test_add_func ("/png-write/exact", test_write_exact);
  g_test_add_func ("/png-write/python-reader", test_write_python_reader);
  g_test_add_func ("/png-write/threads", test_write_threads);
  g_test_add_func ("/png-write/cancel", test_write_cancel);
  g_test_add_func ("/out-file/planted-link", test_out_file_planted_link);
  g_test_add_func ("/out-file/unwritable-folder", test_out_file_unwritable_folder);
  g_test_add_func ("/out-file/full-disk", test_out_file_full_disk);
  g_test_add_func ("/out-file/full-disk/child", full_disk_child);
  return g_test_run ();
}
