/* test_noise.c: Philox4x32-10 against Random123's known-answer vectors, thread-count independence
 * of the seeded noise, and its moments (mean 0, variance 1). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "noise.h"

static void
test_philox_known_answers (void)
{
  static const guint32 vectors[][10] = {
    /* counter[4], key[2], expected[4] (Random123 kat_vectors, philox4x32 10 rounds) */
    { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
    { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
    { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
  };
  gsize v;
  for (v = 0; v < G_N_ELEMENTS (vectors); v++)
    {
      guint32 out[4];
      int i;
      sd_philox4x32 (vectors[v], vectors[v] + 4, out);
      for (i = 0; i < 4; i++)
        g_assert_cmphex (out[i], ==, vectors[v][6 + i]);
    }
}

static void
test_threads_identical (void)
{
  const gsize n = 100003;
  float *a = g_new (float, n), *b = g_new (float, n);
  int saved = omp_get_max_threads ();

  omp_set_num_threads (1);
  sd_noise_normal (42, 1, a, n);
  omp_set_num_threads (2);
  sd_noise_normal (42, 1, b, n);
  omp_set_num_threads (saved);
  g_assert_true (memcmp (a, b, n * sizeof (float)) == 0);
  /* a prefix is the same noise: element i depends only on i */
  sd_noise_normal (42, 1, b, 1000);
  g_assert_true (memcmp (a, b, 1000 * sizeof (float)) == 0);
  /* another seed or stream differs */
  sd_noise_normal (43, 1, b, n);
  g_assert_false (memcmp (a, b, n * sizeof (float)) == 0);
  sd_noise_normal (42, 2, b, n);
  g_assert_false (memcmp (a, b, n * sizeof (float)) == 0);
  g_free (a);
  g_free (b);
}

static void
test_moments (void)
{
  const gsize n = 1 << 20;
  float *a = g_new (float, n);
  double s = 0, s2 = 0, mean, var;
  gsize i;
  sd_noise_normal (7, 0, a, n);
  for (i = 0; i < n; i++)
    {
      s += a[i];
      s2 += (double) a[i] * a[i];
    }
  mean = s / n;
  var = s2 / n - mean * mean;
  /* standard errors: 1/sqrt(n) ~ 0.001 for the mean, sqrt(2/n) ~ 0.0014 for the variance */
  g_assert_cmpfloat (fabs (mean), <, 0.005);
  g_assert_cmpfloat (fabs (var - 1), <, 0.007);
  g_free (a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/noise/philox-known-answers", test_philox_known_answers);
  g_test_add_func ("/noise/threads-identical", test_threads_identical);
  g_test_add_func ("/noise/moments", test_moments);
  return g_test_run ();
}
