/* test_png_io.c: the CLI's file output and PNG reading and writing (cli/out_file.c, png_write.c,
 * png_read.c): every PNG colour type and bit depth read as the pattern tools/reference/
 * make_png_fixtures.py draws (recomputed here), oversized headers refused before decoding,
 * corrupt files named, the `parameters` iTXt chunk read back by a chunk walker written here, a
 * full disk (RLIMIT_FSIZE) leaving the target as it was, no planted link followed, cancel. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "cli_spawn.h"
#include "out_file.h"
#include "png_read.h"
#include "png_write.h"
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

/* The text of the uncompressed iTXt chunk keyed `parameters` (keyword, 0, compression flag 0,
 * method, language tag, 0, translated keyword, 0, text); fails on a tEXt chunk. */
static char *
itxt_parameters (const char *path)
{
  char *bytes, *text = NULL;
  gsize len, off = 8;

  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  while (off + 12 <= len)
    {
      const guint8 *b = (const guint8 *) bytes + off, *data = b + 8;
      guint32 n = be32 (b);
      g_assert_cmpuint (off + 12 + n, <=, len);
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
  rgb = noise_image (64, 64);
  g_assert_false (write_png (target, rgb, 64, 64, 8, "full disk", NULL, &error));
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
  float *rgb = noise_image (64, 64);
  GError *error = NULL;
  GStatBuf st;
  gsize limits[3];
  guint i;

  g_assert_true (write_png (target, rgb, 64, 64, 8, "full disk", NULL, &error));
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
  g_test_add_func ("/png-write/cancel", test_write_cancel);
  g_test_add_func ("/out-file/planted-link", test_out_file_planted_link);
  g_test_add_func ("/out-file/unwritable-folder", test_out_file_unwritable_folder);
  g_test_add_func ("/out-file/full-disk", test_out_file_full_disk);
  g_test_add_func ("/out-file/full-disk/child", full_disk_child);
  return g_test_run ();
}
