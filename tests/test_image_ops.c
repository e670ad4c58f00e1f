/* test_image_ops.c: the pipeline's host image work: resizing to the same size returns the image,
 * RGB <-> CHW round trips, the unsharp mask leaves a flat image flat; and sizes whose buffers
 * cannot be had end in an out-of-memory error instead of the process. */
#include <math.h>

#include "image_ops.h"
#include "scaledit.h"
#include "testutil.h"

static void
test_properties (void)
{
  const int w = 37, h = 23;
  GRand *rng = g_rand_new_with_seed (g_test_rand_int ());
  float *rgb = g_new (float, (gsize) w * h * 3), *chw, *same, *back;
  GError *error = NULL;
  gsize i;

  for (i = 0; i < (gsize) w * h * 3; i++)
    rgb[i] = (float) g_rand_double (rng);
  chw = sd_rgb_to_image (rgb, w, h, &error);
  g_assert_no_error (error);
  same = sd_resize_bicubic (chw, 3, w, h, w, h, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (sd_rel_error (same, chw, (gsize) w * h * 3), <=, 1e-6);
  back = sd_image_to_rgb (same, w, h, w, h, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (sd_rel_error (back, rgb, (gsize) w * h * 3), <=, 1e-6);
  for (i = 0; i < (gsize) w * h * 3; i++)
    chw[i] = 0.25f;
  g_assert_true (sd_unsharp_mask (chw, 3, w, h, 0.5f, &error));
  for (i = 0; i < (gsize) w * h * 3; i++)
    g_assert_cmpfloat (fabsf (chw[i] - 0.25f), <=, 1e-6);
  g_free (rgb);
  g_free (chw);
  g_free (same);
  g_free (back);
  g_rand_free (rng);
}

/* 3 x 2^20 x 2^20 floats (12 TiB): no system gives that, so each call must say so. */
static void
test_out_of_memory (void)
{
  const int big = 1 << 20;
  float one[3] = { 0.5f, 0.5f, 0.5f };
  GError *error = NULL;

  g_assert_null (sd_resize_bicubic (one, 3, 1, 1, big, big, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull (g_strstr_len (error->message, -1, "MiB"));
  g_clear_error (&error);
  g_assert_null (sd_image_to_rgb (one, big, big, big, big, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);
  g_assert_null (sd_rgb_to_image (one, big, big, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);
  g_assert_false (sd_unsharp_mask (one, 1, big, big * 4, 0.5f, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-ops/properties", test_properties);
  g_test_add_func ("/image-ops/out-of-memory", test_out_of_memory);
  return g_test_run ();
}
