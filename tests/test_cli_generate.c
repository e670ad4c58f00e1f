/* test_cli_generate.c: `scaledit generate` at a size that is not a multiple of 16 writes a PNG of
 * exactly that size whose `parameters` iTXt chunk holds the request, read back by a PNG chunk
 * parser written here (independent of the libpng writer); UTF-8 prompts (generate, upscale,
 * negative) work under LANG=C and arrive intact in the chunk; guidance given to a model without a
 * guidance embedding is warned about and not recorded. */
#include <glib/gstdio.h>
#include <string.h>

#include "cli_spawn.h"
#include "testutil.h"

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Walks the chunks: IHDR's size and the text of the chunk keyed `parameters`: iTXt (keyword, 0,
 * compression flag, method, language, 0, translated keyword, 0, UTF-8 text; uncompressed here)
 * or, as older versions wrote it, tEXt (keyword, 0, Latin-1 text). */
static void
read_png (const guint8 *b, gsize len, guint32 *w, guint32 *h, char **parameters)
{
  static const guint8 sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
  gsize off = 8;
  *parameters = NULL;
  g_assert_cmpuint (len, >, 8);
  g_assert_cmpint (memcmp (b, sig, 8), ==, 0);
  while (off + 12 <= len)
    {
      guint32 n = be32 (b + off);
      const guint8 *type = b + off + 4, *data = b + off + 8, *end = data + n;
      g_assert_cmpuint (off + 12 + n, <=, len);
      if (memcmp (type, "IHDR", 4) == 0)
        {
          *w = be32 (data);
          *h = be32 (data + 4);
        }
      else if (memcmp (type, "iTXt", 4) == 0 && n > 13 && memcmp (data, "parameters", 11) == 0)
        {
          const guint8 *lang_end, *key_end;
          g_assert_cmpint (data[11], ==, 0); /* not compressed */
          lang_end = memchr (data + 13, 0, end - (data + 13));
          g_assert_nonnull (lang_end);
          key_end = memchr (lang_end + 1, 0, end - (lang_end + 1));
          g_assert_nonnull (key_end);
          *parameters = g_strndup ((const char *) key_end + 1, end - (key_end + 1));
        }
      else if (memcmp (type, "tEXt", 4) == 0 && n > 11 && memcmp (data, "parameters", 11) == 0)
        *parameters = g_convert ((const char *) data + 11, n - 11, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
      else if (memcmp (type, "IEND", 4) == 0)
        return;
      off += 12 + n;
    }
  g_assert_not_reached ();
}

/* The parameters of a PNG the CLI wrote, and its size. */
static char *
png_parameters (const char *path, guint32 *w, guint32 *h)
{
  char *bytes, *params;
  gsize len;
  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  read_png ((const guint8 *) bytes, len, w, h, &params);
  g_assert_nonnull (params);
  g_test_message ("parameters: %s", params);
  g_free (bytes);
  return params;
}

static void
test_odd_size_png (void)
{
  char *model = sd_test_data_path ("pipeline-model");
  char *dir = g_dir_make_tmp ("sdgen-XXXXXX", NULL), *out = g_build_filename (dir, "odd.png", NULL);
  const char *args[] = { "generate", "--model", model, "--prompt", "a red barn in a wheat field", "--width", "200",
                         "--height", "136", "--seed", "3", "--steps", "3", "--detail-steps", "2", "--window", "4",
                         "--device", "cpu", "--out", out, NULL };
  char *params;
  guint32 w = 0, h = 0;

  g_assert_cmpint (sd_test_cli_run (args, NULL, NULL, NULL, NULL), ==, 0);
  params = png_parameters (out, &w, &h);
  g_assert_cmpuint (w, ==, 200);
  g_assert_cmpuint (h, ==, 136);
  g_assert_true (g_str_has_prefix (params, "a red barn in a wheat field\nSteps: 3, "));
  g_assert_nonnull (strstr (params, "Seed: 3, Size: 200x136, Model: pipeline-model"));
  g_assert_nonnull (strstr (params, "Detail steps: 2"));
  g_assert_nonnull (strstr (params, "Window: 4"));
  g_free (params);
  sd_test_folder_remove (dir);
  g_free (out);
  g_free (dir);
  g_free (model);
}

/* The C locale (LANG=C, LC_ALL=C): GLib's string options used to refuse any non-ASCII byte there. */
static char **
c_locale_environment (void)
{
  char **env = g_get_environ ();
  env = g_environ_setenv (env, "LANG", "C", TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C", TRUE);
  return env;
}

static void
test_utf8_prompts (void)
{
  char *model = sd_test_data_path ("pipeline-model");
  char *dir = g_dir_make_tmp ("sdgen-XXXXXX", NULL), *small = g_build_filename (dir, "café.png", NULL);
  char *big = g_build_filename (dir, "big.png", NULL), *params;
  char **env = c_locale_environment ();
  const char *generate[] = { "generate", "--model", model, "--prompt", "a café by a lake, 湖畔", "--negative-prompt",
                             "brouillard épais", "--true-cfg", "2", "--width", "64", "--height", "64", "--seed", "1",
                             "--steps", "2", "--detail-steps", "1", "--device", "cpu", "--out", small, NULL };
  const char *upscale[] = { "upscale", "--model", model, "--in", small, "--scale", "2", "--prompt", "Zürich, ein Café",
                            "--seed", "1", "--steps", "2", "--detail-steps", "1", "--device", "cpu", "--out", big, NULL };
  guint32 w, h;

  g_assert_cmpint (sd_test_cli_run (generate, env, NULL, NULL, NULL), ==, 0);
  params = png_parameters (small, &w, &h);
  g_assert_true (g_str_has_prefix (params, "a café by a lake, 湖畔\nNegative prompt: brouillard épais\nSteps: 2, "));
  g_free (params);
  g_assert_cmpint (sd_test_cli_run (upscale, env, NULL, NULL, NULL), ==, 0);
  params = png_parameters (big, &w, &h);
  g_assert_cmpuint (w, ==, 128);
  g_assert_true (g_str_has_prefix (params, "Zürich, ein Café\nSteps: 2, "));
  g_assert_null (strstr (params, " Guidance:")); /* an upscale runs no global pass */
  g_assert_nonnull (strstr (params, "Detail guidance: 4.5"));
  g_free (params);
  g_strfreev (env);
  sd_test_folder_remove (dir);
  g_free (small);
  g_free (big);
  g_free (dir);
  g_free (model);
}

/* The bundled model has no guidance embedding: --guidance is said to do nothing and is not in the
 * parameters as if it had acted. */
static void
test_guidance_without_embedding (void)
{
  char *dir = g_dir_make_tmp ("sdgen-XXXXXX", NULL), *out = g_build_filename (dir, "a.png", NULL), *err, *params;
  const char *args[] = { "generate", "--prompt", "a lake", "--guidance", "7", "--width", "64", "--height", "64",
                         "--steps", "2", "--detail-steps", "1", "--device", "cpu", "--out", out, NULL };
  guint32 w, h;

  g_assert_cmpint (sd_test_cli_run (args, NULL, NULL, NULL, &err), ==, 0);
  g_assert_nonnull (strstr (err, "this model has no guidance embedding: --guidance and --detail-guidance have no effect"));
  params = png_parameters (out, &w, &h);
  g_assert_nonnull (strstr (params, "Model: scaledit-tiny"));
  g_assert_null (strstr (params, "uidance"));
  g_free (params);
  g_free (err);
  sd_test_folder_remove (dir);
  g_free (out);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/generate-odd-size-png", test_odd_size_png);
  g_test_add_func ("/cli/utf8-prompts", test_utf8_prompts);
  g_test_add_func ("/cli/guidance-without-embedding", test_guidance_without_embedding);
  return g_test_run ();
}
