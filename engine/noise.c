/* noise.c: seeded Gaussian noise from a counter-based generator (Philox4x32-10), so a seed gives
 * the same noise on every backend and thread count. */
#include <math.h>

#include "noise.h"

void
sd_philox4x32 (const guint32 counter[4], const guint32 key[2], guint32 out[4])
{
  guint32 c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  guint32 k0 = key[0], k1 = key[1];
  int round;

  for (round = 0; round < 10; round++)
    {
      guint64 p0 = (guint64) 0xD2511F53u * c0;
      guint64 p1 = (guint64) 0xCD9E8D57u * c2;
      guint32 n0 = (guint32) (p1 >> 32) ^ c1 ^ k0;
      guint32 n2 = (guint32) (p0 >> 32) ^ c3 ^ k1;
      c1 = (guint32) p1;
      c3 = (guint32) p0;
      c0 = n0;
      c2 = n2;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void
sd_noise_normal (guint64 seed, guint32 stream, float *out, gsize n)
{
  const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };
  gint64 i;

#pragma omp parallel for schedule(static)
  for (i = 0; i < (gint64) n; i++)
    {
      guint32 ctr[4] = { (guint32) i, (guint32) ((guint64) i >> 32), stream, 0x5ca1ed17u }, r[4];
      double u1, u2;
      sd_philox4x32 (ctr, key, r);
      /* Box-Muller from two 53-bit uniforms; u1 in (0, 1] */
      u1 = ((((guint64) r[0] << 21) ^ (r[1] >> 11)) + 1.0) / 9007199254740992.0;
      u2 = (((guint64) r[2] << 21) ^ (r[3] >> 11)) / 9007199254740992.0;
      out[i] = (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
    }
}
