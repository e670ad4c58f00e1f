/* test_cli_generate.c: `scaledit generate` at a size that is not a multiple of 16 writes a PNG of
 * exactly that size whose `parameters` tEXt chunk holds the request, read back by a PNG chunk
 * parser written here (independent of the libpng writer). */
#include <glib/gstdio.h>
#include <string.h>

#include "testutil.h"

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Walks the chunks: IHDR's size and the text of the tEXt chunk keyed `parameters`. */
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
      const guint8 *type = b + off + 4, *data = b + off + 8;
      g_assert_cmpuint (off + 12 + n, <=, len);
      if (memcmp (type, "IHDR", 4) == 0)
        {
          *w = be32 (data);
          *h = be32 (data + 4);
        }
      else if (memcmp (type, "tEXt", 4) == 0 && n > 11 && memcmp (data, "parameters", 11) == 0)
        *parameters = g_strndup ((const char *) data + 11, n - 11);
      else if (memcmp (type, "IEND", 4) == 0)
        return;
      off += 12 + n;
    }
  g_assert_not_reached ();
}

static void
test_odd_size_png (void)
{
  const char *cli = g_getenv ("SCALEDIT_CLI");
  char *model = sd_test_data_path ("pipeline-model");
  char *dir = g_dir_make_tmp ("sdgen-XXXXXX", NULL), *out = g_build_filename (dir, "odd.png", NULL);
  const char *argv[] = { cli, "generate", "--model", model, "--prompt", "a red barn in a wheat field", "--width", "200",
                         "--height", "136", "--seed", "3", "--steps", "3", "--detail-steps", "2", "--window", "4",
                         "--device", "cpu", "--out", out, NULL };
  char *sout = NULL, *serr = NULL, *params, *bytes;
  GError *error = NULL;
  guint32 w = 0, h = 0;
  gsize len;
  int status;

  g_assert_nonnull (cli);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, 0, NULL, NULL, &sout, &serr, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("scaledit generate failed: %s", serr);
  g_assert_true (g_file_get_contents (out, &bytes, &len, &error));
  read_png ((const guint8 *) bytes, len, &w, &h, &params);
  g_assert_cmpuint (w, ==, 200);
  g_assert_cmpuint (h, ==, 136);
  g_assert_nonnull (params);
  g_test_message ("parameters: %s", params);
  g_assert_true (g_str_has_prefix (params, "a red barn in a wheat field\nSteps: 3, "));
  g_assert_nonnull (strstr (params, "Seed: 3, Size: 200x136, Model: pipeline-model"));
  g_assert_nonnull (strstr (params, "Detail steps: 2"));
  g_assert_nonnull (strstr (params, "Window: 4"));
  g_free (params);
  g_free (bytes);
  g_free (sout);
  g_free (serr);
  g_unlink (out);
  g_rmdir (dir);
  g_free (out);
  g_free (dir);
  g_free (model);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/generate-odd-size-png", test_odd_size_png);
  return g_test_run ();
}
