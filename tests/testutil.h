/* testutil.h: helpers shared by the test programs: fixtures, random data, relative errors. */
#pragma once

#include <glib.h>

/* Path of a file under tests/data (newly allocated). */
char *sd_test_data_path (const char *relative);
/* ‖a − b‖ / ‖b‖ over n elements (0 when both are zero). */
double sd_rel_error (const float *a, const float *b, gsize n);
/* n uniform floats in [-scale, scale] from a GRand seeded by the test's random seed. */
float *sd_test_random (GRand *rng, gsize n, float scale);
