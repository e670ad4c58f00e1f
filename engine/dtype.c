/* dtype.c: half-precision (f16, bf16) and 8-bit float (e4m3fn, e5m2) conversions to and from f32
 * on the host. */
#include <math.h>
#include <string.h>

#include "dtype.h"

float
sd_bf16_to_f32 (guint16 h)
{
  guint32 u = (guint32) h << 16;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

guint16
sd_f32_to_bf16 (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN stays NaN */
    return (guint16) ((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
  return (guint16) (u >> 16);
}

float
sd_f16_to_f32 (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000u) << 16;
  guint32 exp = (h >> 10) & 0x1fu;
  guint32 man = h & 0x3ffu;
  guint32 u;
  float f;

  if (exp == 0)
    {
      if (man == 0)
        u = sign;
      else
        {
          /* subnormal: value = man * 2^-24 */
          f = (float) man * (1.0f / 16777216.0f);
          memcpy (&u, &f, 4);
          u |= sign;
        }
    }
  else if (exp == 31)
    u = sign | 0x7f800000u | (man << 13);
  else
    u = sign | ((exp + 112u) << 23) | (man << 13);
  memcpy (&f, &u, 4);
  return f;
}

float
sd_f8_e4m3_to_f32 (guint8 b)
{
  guint32 exp = (b >> 3) & 0xfu;
  guint32 man = b & 0x7u;
  float mag;

  if (exp == 15 && man == 7)
    mag = NAN;
  else if (exp == 0)
    mag = ldexpf ((float) man, -9); /* subnormal: man/8 * 2^-6 */
  else
    mag = ldexpf (1.0f + (float) man / 8.0f, (int) exp - 7);
  return (b & 0x80u) ? -mag : mag;
}

float
sd_f8_e5m2_to_f32 (guint8 b)
{
  /* e5m2 is the top byte of an IEEE half */
  return sd_f16_to_f32 ((guint16) ((guint16) b << 8));
}

gsize
sd_dtype_size (SdDType dtype)
{
  return dtype == SD_DTYPE_F32 ? 4 : 2;
}

void
sd_convert_to_f32 (const void *src, SdDType dtype, gsize n, float *dst)
{
  const guint8 *bytes = src;
  guint16 h;
  gsize i;

  switch (dtype)
    {
    case SD_DTYPE_F32:
      memcpy (dst, src, n * 4);
      break;
    case SD_DTYPE_F16:
      for (i = 0; i < n; i++)
        {
          memcpy (&h, bytes + 2 * i, 2); /* tensor data need not be aligned */
          dst[i] = sd_f16_to_f32 (h);
        }
      break;
    case SD_DTYPE_BF16:
      for (i = 0; i < n; i++)
        {
          memcpy (&h, bytes + 2 * i, 2);
          dst[i] = sd_bf16_to_f32 (h);
        }
      break;
    }
}
