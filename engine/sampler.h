/* sampler.h: FLUX's rectified-flow schedule (sigmas with the resolution-dependent shift) as
 * diffusers' FlowMatchEulerDiscreteScheduler computes it, and the Euler step. */
#pragma once

#include <glib.h>

#include "backend.h"

typedef struct {
  gboolean dynamic_shift; /* FLUX.1-dev: mu from the image token count */
  double base_shift, max_shift;
  int base_seq_len, max_seq_len;
  double shift;           /* static shift when dynamic_shift is off (schnell: 1) */
} SdSchedule;

/* FLUX.1-dev's defaults (dynamic shift 0.5 .. 1.15 over 256 .. 4096 tokens). */
void sd_schedule_init_dev (SdSchedule *s);
/* Reads scheduler/scheduler_config.json; missing keys keep the dev defaults. */
gboolean sd_schedule_from_json (const char *path, SdSchedule *s, GError **error);

/* mu for an image of `image_tokens` tokens: the line through (base_seq_len, base_shift) and
 * (max_seq_len, max_shift), not clamped. */
double sd_schedule_mu (const SdSchedule *s, int image_tokens);

/* sigmas[0 .. steps] of a `steps`-step run (the last is 0); timestep i is sigmas[i] * 1000. */
void sd_schedule_sigmas (const SdSchedule *s, int steps, double mu, float *sigmas);

/* x += (sigma_next - sigma) * v over n elements on the backend. */
void sd_euler_step (SdBackend *be, SdBuf *x, SdBuf *v, gsize n, float sigma, float sigma_next);
