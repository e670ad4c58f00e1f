/* sampler.h: FLUX's rectified-flow schedule (sigmas with the resolution-dependent shift) as
 * diffusers' FlowMatchEulerDiscreteScheduler computes it, and the Euler step. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "backend.h"

typedef struct {
  gboolean dynamic_shift; /* FLUX.1-dev: mu from the image token count */
  double base_shift, max_shift;
  int base_seq_len, max_seq_len;
  double shift;           /* static shift when dynamic_shift is off (schnell: 1) */
} SdSchedule;

/* FLUX.1-dev's defaults (dynamic shift 0.5 .. 1.15 over 256 .. 4096 tokens). */
void sd_schedule_init_dev (SdSchedule *s);
/* Bounds of scheduler_config.json's members: |base_shift|, |max_shift| and shift, and the image
 * sequence lengths (16M tokens: a 65536² picture). */
#define SD_SCHEDULE_MAX_SHIFT 100.0
#define SD_SCHEDULE_MAX_SEQ_LEN (1 << 24)

/* Reads scheduler/scheduler_config.json; missing keys keep the dev defaults, and every member is
 * checked for type and range. */
gboolean sd_schedule_from_json (const char *path, SdSchedule *s, GError **error);
/* The same from its parsed root object; `file` names it in errors. */
gboolean sd_schedule_from_object (JsonObject *o, const char *file, SdSchedule *s, GError **error);

/* mu for an image of `image_tokens` tokens: the line through (base_seq_len, base_shift) and
 * (max_seq_len, max_shift), not clamped. */
double sd_schedule_mu (const SdSchedule *s, int image_tokens);

/* sigmas[0 .. steps] of a `steps`-step run (the last is 0); timestep i is sigmas[i] * 1000. */
void sd_schedule_sigmas (const SdSchedule *s, int steps, double mu, float *sigmas);

/* x += (sigma_next - sigma) * v over n elements on the backend. */
void sd_euler_step (SdBackend *be, SdBuf *x, SdBuf *v, gsize n, float sigma, float sigma_next);
