/* dtype.h: half-precision (f16, bf16) conversions to and from f32 on the host. */
#pragma once

#include <glib.h>

#include "backend.h"

float sd_f16_to_f32 (guint16 h);
float sd_bf16_to_f32 (guint16 h);
guint16 sd_f32_to_bf16 (float f);
/* Bytes per element of a dtype. */
gsize sd_dtype_size (SdDType dtype);
void sd_convert_to_f32 (const void *src, SdDType dtype, gsize n, float *dst);
