/* test_dtype.c: f16/bf16 conversions against values computed by hand from the IEEE formats. */
#include <math.h>

#include "dtype.h"

static void
test_f16 (void)
{
  g_assert_cmpfloat (sd_f16_to_f32 (0x3c00), ==, 1.0f);
  g_assert_cmpfloat (sd_f16_to_f32 (0xc000), ==, -2.0f);
  g_assert_cmpfloat (sd_f16_to_f32 (0x3555), ==, 0.333251953125f);
  g_assert_cmpfloat (sd_f16_to_f32 (0x0001), ==, ldexpf (1.0f, -24)); /* smallest subnormal */
  g_assert_cmpfloat (sd_f16_to_f32 (0x7bff), ==, 65504.0f);
  g_assert_true (isinf (sd_f16_to_f32 (0x7c00)));
  g_assert_true (isnan (sd_f16_to_f32 (0x7e00)));
  g_assert_true (signbit (sd_f16_to_f32 (0x8000)));
}

static void
test_bf16_round_trip (void)
{
  g_assert_cmpfloat (sd_bf16_to_f32 (0x3f80), ==, 1.0f);
  g_assert_cmphex (sd_f32_to_bf16 (1.0f), ==, 0x3f80);
  /* 1 + 2^-8 is halfway between two bf16 values: rounds to even (1.0) */
  g_assert_cmphex (sd_f32_to_bf16 (1.00390625f), ==, 0x3f80);
  /* 1 + 3*2^-8 is halfway: rounds to even (1 + 2^-6) */
  g_assert_cmphex (sd_f32_to_bf16 (1.01171875f), ==, 0x3f82);
  g_assert_true (isnan (sd_bf16_to_f32 (sd_f32_to_bf16 (NAN))));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dtype/f16", test_f16);
  g_test_add_func ("/dtype/bf16-round-trip", test_bf16_round_trip);
  return g_test_run ();
}
