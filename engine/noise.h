/* noise.h: seeded Gaussian noise from a counter-based generator (Philox4x32-10), so a seed gives
 * the same noise on every backend and thread count. */
#pragma once

#include <glib.h>

/* Philox4x32-10 of a 128-bit counter under a 64-bit key. */
void sd_philox4x32 (const guint32 counter[4], const guint32 key[2], guint32 out[4]);

/* n standard normal values for (seed, stream): element i depends only on (seed, stream, i). */
void sd_noise_normal (guint64 seed, guint32 stream, float *out, gsize n);
