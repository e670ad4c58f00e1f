/* testutil.c: helpers shared by the test programs: fixtures, random data, relative errors. */
#include <math.h>

#include "testutil.h"

char *
sd_test_data_path (const char *relative)
{
  const char *dir = g_getenv ("SCALEDIT_TEST_DATA");
  return g_build_filename (dir ? dir : "tests/data", relative, NULL);
}

double
sd_rel_error (const float *a, const float *b, gsize n)
{
  double num = 0, den = 0;
  gsize i;
  for (i = 0; i < n; i++)
    {
      double d = (double) a[i] - b[i];
      num += d * d;
      den += (double) b[i] * b[i];
    }
  if (den == 0)
    return num == 0 ? 0 : INFINITY;
  if (isnan (num))
    return INFINITY;
  return sqrt (num / den);
}

float *
sd_test_random (GRand *rng, gsize n, float scale)
{
  float *v = g_new (float, n);
  gsize i;
  for (i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, -scale, scale);
  return v;
}
