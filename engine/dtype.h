/* dtype.h: half-precision (f16, bf16) and 8-bit float (e4m3fn, e5m2) conversions to and from f32
 * on the host. */
#pragma once

#include <glib.h>

#include "backend.h"

float sd_f16_to_f32 (guint16 h);
float sd_bf16_to_f32 (guint16 h);
guint16 sd_f32_to_bf16 (float f);
/* float8 e4m3fn (bias 7, no infinities, 0x7f/0xff are NaN) and e5m2 (bias 15, IEEE-like). */
float sd_f8_e4m3_to_f32 (guint8 b);
float sd_f8_e5m2_to_f32 (guint8 b);
/* Bytes per element of a dtype. */
gsize sd_dtype_size (SdDType dtype);
void sd_convert_to_f32 (const void *src, SdDType dtype, gsize n, float *dst);
