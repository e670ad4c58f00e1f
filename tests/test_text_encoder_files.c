/* test_text_encoder_files.c: a loaded CLIP or T5 encoder no longer reads its weights file: the
 * file truncated or rewritten in place after loading (what the plug-in, which keeps encoders open
 * between runs, could meet) leaves later encodes working and unchanged instead of a SIGBUS. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "clip_model.h"
#include "scaledit.h"
#include "t5_model.h"
#include "testutil.h"

/* A private copy of the single-file fixture `name`, in a fresh temporary folder. */
static char *
copy_fixture (const char *name, char **dir)
{
  char *rel = g_build_filename ("text_encoders", name, NULL);
  char *src = sd_test_data_path (rel), *dst, *bytes;
  gsize len;

  g_assert_true (g_file_get_contents (src, &bytes, &len, NULL));
  *dir = g_dir_make_tmp ("encoder-files-XXXXXX", NULL);
  dst = g_build_filename (*dir, name, NULL);
  g_assert_true (g_file_set_contents (dst, bytes, len, NULL));
  g_free (bytes);
  g_free (src);
  g_free (rel);
  return dst;
}

/* Truncates the file in place (same inode: a mapping of it would fault past the new end). */
static void
truncate_in_place (const char *path)
{
  g_assert_cmpint (truncate (path, 0), ==, 0);
}

static void
test_clip (void)
{
  static const int ids[] = { 1, 7, 12, 5, 3, 2 };
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  char *dir, *path = copy_fixture ("clip_l.safetensors", &dir);
  SdClipModel *m = sd_clip_load (be, path, &error);
  float *h0 = NULL, *h1 = NULL, *p0 = NULL, *p1 = NULL;
  const SdClipConfig *c;

  g_assert_no_error (error);
  c = sd_clip_config (m);
  g_assert_true (sd_clip_encode (m, ids, G_N_ELEMENTS (ids), &h0, &p0, &error));
  g_assert_no_error (error);
  truncate_in_place (path);
  g_assert_true (sd_clip_encode (m, ids, G_N_ELEMENTS (ids), &h1, &p1, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (h0, h1, sizeof (float) * G_N_ELEMENTS (ids) * c->hidden_size) == 0);
  g_assert_true (memcmp (p0, p1, sizeof (float) * c->hidden_size) == 0);
  g_free (h0);
  g_free (h1);
  g_free (p0);
  g_free (p1);
  sd_clip_free (m);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

static void
test_t5 (void)
{
  static const int ids[] = { 3, 9, 14, 27, 1 };
  SdBackend *be = sd_backend_cpu_new ();
  GError *error = NULL;
  char *dir, *path = copy_fixture ("t5xxl_tiny.safetensors", &dir);
  SdT5Model *m = sd_t5_load (be, path, &error);
  float *h0 = NULL, *h1 = NULL;

  g_assert_no_error (error);
  g_assert_true (sd_t5_encode (m, ids, G_N_ELEMENTS (ids), &h0, &error));
  g_assert_no_error (error);
  truncate_in_place (path);
  g_assert_true (sd_t5_encode (m, ids, G_N_ELEMENTS (ids), &h1, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (h0, h1, sizeof (float) * G_N_ELEMENTS (ids) * sd_t5_config (m)->d_model) == 0);
  g_free (h0);
  g_free (h1);
  sd_t5_free (m);
  g_assert_cmpuint (be->bytes_in_use, ==, 0);
  sd_backend_close (be);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text-encoder-files/clip-truncated-after-load", test_clip);
  g_test_add_func ("/text-encoder-files/t5-truncated-after-load", test_t5);
  return g_test_run ();
}
